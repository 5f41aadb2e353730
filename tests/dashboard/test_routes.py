"""The dashboard over HTTP (no browser): pages, one-time secrets, CSRF, cookies, limits."""

from __future__ import annotations

import json
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import jwt as pyjwt
import pytest
from sqlalchemy import func, select

from fluide.app import App
from fluide.catalog import ALL_SCOPES
from fluide.gateway.models import UsageDaily
from fluide.identity import audit
from fluide.identity.audit import Actor
from fluide.identity.models import AuditEvent, Credential
from fluide.kit.clock import FrozenClock
from fluide.settings import Settings
from tests.conftest import CLIENT_ID
from tests.dashboard.support import (
    KEY_RE,
    PASSWORD,
    SECRET_RE,
    Member,
    codes_to,
    create_member,
    csrf_of,
    form_token,
    latest_code,
    sign_in,
)

TOKEN = "/api/v1/authorize/token"


def exchange_headers(key: str, secret: str) -> dict[str, str]:
    return {"X-Fluide-Api-Key": key, "X-Fluide-Api-Secret": secret, "X-Fluide-Client-Id": CLIENT_ID}


async def credential(rt: App, credential_id: str) -> Credential:
    async with rt.infra.sessionmaker() as session:
        cred = await session.get(Credential, credential_id)
        assert cred is not None
        return cred


async def count_audit(rt: App, action: str, credential_id: str) -> int:
    async with rt.infra.sessionmaker() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == action, AuditEvent.credential_id == credential_id)
            )
            or 0
        )


@pytest.fixture
async def member(runtime: App) -> Member:
    return await create_member(runtime)


@pytest.fixture
async def signed_in(client: httpx.AsyncClient, member: Member) -> Member:
    await sign_in(client, member.email)
    return member


# ---- sign up, verify, sign in -------------------------------------------------------------------


async def test_signup_verify_shows_the_secret_once(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    page = await client.get("/connect/signup")
    assert page.status_code == 200 and 'for="email"' in page.text
    resp = await client.post(
        "/connect/signup",
        data={"email": "ada@example.com", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
    )
    assert resp.status_code == 303
    assert resp.headers["location"].startswith("/connect/verify?email=ada%40example.com")
    verify_page = await client.get(resp.headers["location"])
    code = latest_code(Path(settings.data_dir) / "outbox", "ada@example.com")

    resp = await client.post(
        "/connect/verify",
        data={"email": "ada@example.com", "code": code, "csrf_token": csrf_of(verify_page.text)},
    )
    assert resp.status_code == 200
    assert resp.headers["cache-control"] == "no-store"
    key, secret = KEY_RE.search(resp.text), SECRET_RE.search(resp.text)
    assert key and secret
    assert "I have stored the secret" in resp.text
    ok = await client.post(TOKEN, headers=exchange_headers(key.group(0), secret.group(0)))
    assert ok.status_code == 200

    await sign_in(client, "ada@example.com")
    keys = await client.get("/connect/keys")
    assert key.group(0) in keys.text
    assert not SECRET_RE.search(keys.text)


async def test_wrong_code_is_a_friendly_html_error(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    page = await client.get("/connect/signup")
    await client.post(
        "/connect/signup",
        data={"email": "bob@example.com", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
    )
    code = latest_code(Path(settings.data_dir) / "outbox", "bob@example.com")
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    resp = await client.post(
        "/connect/verify",
        data={"email": "bob@example.com", "code": wrong, "csrf_token": csrf_of(page.text)},
    )
    assert resp.status_code == 400
    assert resp.headers["content-type"].startswith("text/html")
    assert "verification code is not valid" in resp.text


async def test_resend_sends_a_fresh_code_and_reveals_nothing(
    client: httpx.AsyncClient, settings: Settings, clock: FrozenClock
) -> None:
    outbox = Path(settings.data_dir) / "outbox"
    page = await client.get("/connect/signup")
    token = csrf_of(page.text)
    data = {"email": "cy@example.com", "password": PASSWORD, "csrf_token": token}
    await client.post("/connect/signup", data=data)
    first = latest_code(outbox, "cy@example.com")
    clock.advance(1)  # the new code is the newer one
    before = len(list(outbox.glob("*.eml")))
    answers = [
        await client.post("/connect/verify/resend", data={"email": e, "csrf_token": token})
        for e in ("cy@example.com", "nobody@example.com")
    ]
    assert [a.status_code for a in answers] == [200, 200]
    assert all("a new code is on its way" in a.text for a in answers)
    assert len(list(outbox.glob("*.eml"))) == before + 1
    codes = codes_to(outbox, "cy@example.com")
    assert len(codes) == 2
    code = next((c for c in codes if c != first), first)  # equal codes: 1 chance in a million
    resp = await client.post(
        "/connect/verify", data={"email": "cy@example.com", "code": code, "csrf_token": token}
    )
    assert resp.status_code == 200 and SECRET_RE.search(resp.text)


async def test_signup_answers_alike_for_a_registered_address(
    client: httpx.AsyncClient, settings: Settings, member: Member
) -> None:
    """The dashboard says no more than the API: a registered address is redirected to the
    verify page like a new one, and its owner gets a notice by mail instead of a code."""
    outbox = Path(settings.data_dir) / "outbox"
    page = await client.get("/connect/signup")
    token = csrf_of(page.text)
    answers = [
        await client.post(
            "/connect/signup", data={"email": e, "password": PASSWORD, "csrf_token": token}
        )
        for e in (member.email, "newcomer@example.com")
    ]
    assert [a.status_code for a in answers] == [303, 303]
    assert [a.headers["location"] for a in answers] == [
        f"/connect/verify?email={quote(e)}&sent=1" for e in (member.email, "newcomer@example.com")
    ]
    assert sorted(answers[0].headers) == sorted(answers[1].headers)
    assert codes_to(outbox, member.email) == []
    assert len(codes_to(outbox, "newcomer@example.com")) == 1
    (notice,) = [
        m
        for m in (
            message_from_bytes(p.read_bytes(), policy=policy.default) for p in outbox.iterdir()
        )
        if m["To"] == member.email
    ]
    assert "tried to sign up" in str(notice["Subject"])
    page = await client.get(answers[0].headers["location"])
    assert "if the address already has an account, it says so" in page.text


@pytest.mark.parametrize(
    "address", ["victim@example.com,attacker@evil.example", "Eve <victim@example.com>"]
)
async def test_signup_refuses_more_than_one_mailbox(
    client: httpx.AsyncClient, settings: Settings, address: str
) -> None:
    page = await client.get("/connect/signup")
    resp = await client.post(
        "/connect/signup",
        data={"email": address, "password": PASSWORD, "csrf_token": csrf_of(page.text)},
    )
    assert resp.status_code == 400
    assert 'class="field-error"' in resp.text
    assert not (Path(settings.data_dir) / "outbox").exists()


async def test_signup_validation_errors_rerender_the_form(client: httpx.AsyncClient) -> None:
    page = await client.get("/connect/signup")
    resp = await client.post(
        "/connect/signup",
        data={"email": "x@example.com", "password": "short", "csrf_token": csrf_of(page.text)},
    )
    assert resp.status_code == 400
    assert "between 10 and 256 characters" in resp.text
    assert 'value="x@example.com"' in resp.text


async def test_session_cookie_is_hardened(client: httpx.AsyncClient, member: Member) -> None:
    page = await client.get("/connect/signin")
    resp = await client.post(
        "/connect/signin",
        data={"email": member.email, "password": PASSWORD, "csrf_token": csrf_of(page.text)},
    )
    cookie = next(c for c in resp.headers.get_list("set-cookie") if "fluide_session=" in c)
    lowered = cookie.lower()
    assert "httponly" in lowered and "samesite=lax" in lowered and "path=/connect" in lowered
    assert "secure" not in lowered  # plain HTTP in this test


async def test_session_cookie_is_secure_behind_https(app: App, member: Member) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        page = await client.get("/connect/signin")
        assert "secure" in page.headers["set-cookie"].lower()  # the CSRF cookie too
        resp = await client.post(
            "/connect/signin",
            data={"email": member.email, "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        )
    cookie = next(c for c in resp.headers.get_list("set-cookie") if "fluide_session=" in c)
    assert "secure" in cookie.lower()


class TestSecureBaseUrl:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"base_url": "https://connect.example.com"}

    async def test_cookies_are_secure_when_the_base_url_is_https(
        self, client: httpx.AsyncClient
    ) -> None:
        page = await client.get("/connect/signin")  # plain HTTP behind a TLS-terminating proxy
        assert "secure" in page.headers["set-cookie"].lower()


async def test_wrong_password_and_unverified(client: httpx.AsyncClient, member: Member) -> None:
    page = await client.get("/connect/signin")
    resp = await client.post(
        "/connect/signin",
        data={"email": member.email, "password": "wrong" * 3, "csrf_token": csrf_of(page.text)},
    )
    assert resp.status_code == 401
    assert "Email or password is incorrect" in resp.text
    assert "fluide_session" not in resp.headers.get("set-cookie", "")


class TestSignInLimit:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"signin_limit": "3/minute"}

    @pytest.mark.usefixtures("whole_minute")
    async def test_signin_is_rate_limited(self, client: httpx.AsyncClient, member: Member) -> None:
        token = csrf_of((await client.get("/connect/signin")).text)
        data = {"email": member.email, "password": "wrong-password!", "csrf_token": token}
        statuses = [(await client.post("/connect/signin", data=data)).status_code for _ in "abc"]
        assert statuses == [401] * 3
        resp = await client.post("/connect/signin", data={**data, "password": PASSWORD})
        assert resp.status_code == 429
        assert int(resp.headers["retry-after"]) >= 1
        assert "Too many sign-in attempts" in resp.text


async def test_pages_need_a_session(client: httpx.AsyncClient) -> None:
    for path in ("/connect/keys", "/connect/usage", "/connect/audit"):
        resp = await client.get(path)
        assert resp.status_code == 303
        assert resp.headers["location"] == f"/connect/signin?next={path}"


async def test_signin_returns_to_next_only_inside_the_dashboard(
    client: httpx.AsyncClient, member: Member
) -> None:
    for target, expected in (
        ("/connect/usage", "/connect/usage"),
        ("https://evil.example/", "/connect/keys"),
        ("/connect//evil.example", "/connect/keys"),
    ):
        client.cookies.clear()
        token = csrf_of((await client.get("/connect/signin")).text)
        resp = await client.post(
            "/connect/signin",
            data={"email": member.email, "password": PASSWORD, "next": target, "csrf_token": token},
        )
        assert resp.headers["location"] == expected


async def test_sign_out_ends_the_session(client: httpx.AsyncClient, signed_in: Member) -> None:
    token = await form_token(client)
    resp = await client.post("/connect/signout", data={"csrf_token": token})
    assert resp.status_code == 303
    assert (await client.get("/connect/keys")).status_code == 303


async def test_unknown_page_is_an_html_404(client: httpx.AsyncClient) -> None:
    resp = await client.get("/connect/nope")
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith("text/html")
    assert "Page not found" in resp.text and "Sign out" not in resp.text


# ---- CSRF ---------------------------------------------------------------------------------------


async def test_revoke_without_a_valid_csrf_token_is_refused_and_changes_nothing(
    app: App, client: httpx.AsyncClient, runtime: App, signed_in: Member
) -> None:
    path = f"/connect/keys/{signed_in.credential_id}/revoke"
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as stranger:
        other_client_token = csrf_of((await stranger.get("/connect/signin")).text)
    for data in ({}, {"csrf_token": "0" * 64}, {"csrf_token": other_client_token}):
        resp = await client.post(path, data=data)
        assert resp.status_code == 403
        assert resp.headers["content-type"].startswith("text/html")
        assert "did not come from this site" in resp.text
    # Without the CSRF cookie, even a token rendered for this session is refused.
    token = await form_token(client)
    client.cookies.delete("fluide_csrf")
    assert (await client.post(path, data={"csrf_token": token})).status_code == 403

    cred = await credential(runtime, signed_in.credential_id)
    assert cred.status == "active" and cred.revoked_at is None
    assert await count_audit(runtime, "credential.revoke", signed_in.credential_id) == 0
    ok = await client.post(TOKEN, headers=exchange_headers(signed_in.api_key, signed_in.api_secret))
    assert ok.status_code == 200

    # The same form with a valid token does revoke: the refusals above were the token's doing.
    resp = await client.post(path, data={"csrf_token": await form_token(client)})
    assert resp.status_code == 303
    assert (await credential(runtime, signed_in.credential_id)).status == "revoked"


async def test_csrf_token_is_bound_to_the_session(
    client: httpx.AsyncClient, runtime: App, member: Member
) -> None:
    anonymous_token = await form_token(client, "/connect/signin")
    await sign_in(client, member.email)
    resp = await client.post(
        f"/connect/keys/{member.credential_id}/rotate",
        data={"grace_seconds": "0", "csrf_token": anonymous_token},
    )
    assert resp.status_code == 403
    assert (await credential(runtime, member.credential_id)).generation == 1


async def test_signin_without_csrf_is_refused(client: httpx.AsyncClient, member: Member) -> None:
    resp = await client.post("/connect/signin", data={"email": member.email, "password": PASSWORD})
    assert resp.status_code == 403
    assert "fluide_session" not in resp.headers.get("set-cookie", "")


# ---- API keys -----------------------------------------------------------------------------------


async def test_keys_page_lists_every_field_without_secrets(
    client: httpx.AsyncClient, signed_in: Member
) -> None:
    resp = await client.get("/connect/keys")
    assert resp.status_code == 200
    text = resp.text
    for item in ("Default key", signed_in.api_key, "sandbox", "hr:read", "Created", "Last used"):
        assert item in text
    assert "active" in text
    assert signed_in.api_secret not in text and not SECRET_RE.search(text)
    assert resp.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in resp.headers["content-security-policy"]


async def test_create_credential_shows_the_secret_only_in_the_post_response(
    client: httpx.AsyncClient, signed_in: Member
) -> None:
    token = await form_token(client)
    resp = await client.post(
        "/connect/keys",
        data={
            "name": "Payroll sync",
            "environment": "production",
            "scopes": ["payroll:read", "hr:read"],
            "csrf_token": token,
        },
    )
    assert resp.status_code == 200
    assert resp.headers["cache-control"] == "no-store"
    secret = SECRET_RE.search(resp.text)
    key = next(k for k in KEY_RE.findall(resp.text) if k != signed_in.api_key)
    assert secret and 'data-replace-url="/connect/keys"' in resp.text
    body = (await client.post(TOKEN, headers=exchange_headers(key, secret.group(0)))).json()
    assert body["scope"] == "hr:read payroll:read"

    again = await client.get("/connect/keys")
    assert "Payroll sync" in again.text and key in again.text
    assert secret.group(0) not in again.text and not SECRET_RE.search(again.text)


async def test_create_credential_needs_a_scope(
    client: httpx.AsyncClient, signed_in: Member
) -> None:
    token = await form_token(client)
    resp = await client.post("/connect/keys", data={"name": "None", "csrf_token": token})
    assert resp.status_code == 400
    assert "at least one scope" in resp.text


async def test_rotate_now_stops_the_old_secret(
    client: httpx.AsyncClient, runtime: App, signed_in: Member
) -> None:
    page = await client.get(f"/connect/keys/{signed_in.credential_id}/rotate")
    for label in ("Now", "1 hour", "24 hours", "7 days", "stops at once"):
        assert label in page.text
    resp = await client.post(
        f"/connect/keys/{signed_in.credential_id}/rotate",
        data={"grace_seconds": "0", "csrf_token": csrf_of(page.text)},
    )
    assert resp.status_code == 200 and resp.headers["cache-control"] == "no-store"
    new_secret = SECRET_RE.search(resp.text)
    assert new_secret and new_secret.group(0) != signed_in.api_secret
    old = await client.post(
        TOKEN, headers=exchange_headers(signed_in.api_key, signed_in.api_secret)
    )
    assert old.status_code == 401
    new = await client.post(TOKEN, headers=exchange_headers(signed_in.api_key, new_secret.group(0)))
    assert new.status_code == 200
    for path in ("/connect/keys", "/connect/audit", "/connect/usage"):
        assert not SECRET_RE.search((await client.get(path)).text), path


async def test_rotate_with_overlap_keeps_the_old_secret(
    client: httpx.AsyncClient, signed_in: Member
) -> None:
    token = await form_token(client)
    resp = await client.post(
        f"/connect/keys/{signed_in.credential_id}/rotate",
        data={"grace_seconds": "86400", "csrf_token": token},
    )
    assert resp.status_code == 200 and "24 hours" in resp.text
    old = await client.post(
        TOKEN, headers=exchange_headers(signed_in.api_key, signed_in.api_secret)
    )
    assert old.status_code == 200
    keys = await client.get("/connect/keys")
    assert "Old secret works until" in keys.text


async def test_rotate_refuses_an_unlisted_overlap(
    client: httpx.AsyncClient, runtime: App, signed_in: Member
) -> None:
    token = await form_token(client)
    resp = await client.post(
        f"/connect/keys/{signed_in.credential_id}/rotate",
        data={"grace_seconds": "5", "csrf_token": token},
    )
    assert resp.status_code == 400
    assert (await credential(runtime, signed_in.credential_id)).generation == 1


async def test_revoke_asks_first_then_refuses_exchange(
    client: httpx.AsyncClient, runtime: App, signed_in: Member
) -> None:
    page = await client.get(f"/connect/keys/{signed_in.credential_id}/revoke")
    assert "permanent" in page.text
    resp = await client.post(
        f"/connect/keys/{signed_in.credential_id}/revoke", data={"csrf_token": csrf_of(page.text)}
    )
    assert resp.status_code == 303 and resp.headers["location"] == "/connect/keys?done=revoked"
    listing = await client.get(resp.headers["location"])
    assert "revoked" in listing.text and "Rotate secret" not in listing.text
    refused = await client.post(
        TOKEN, headers=exchange_headers(signed_in.api_key, signed_in.api_secret)
    )
    assert refused.status_code == 401 and refused.json()["code"] == "CREDENTIAL_REVOKED"


async def test_another_tenants_credential_is_a_404(
    client: httpx.AsyncClient, runtime: App, signed_in: Member
) -> None:
    other = await create_member(runtime)
    token = await form_token(client)
    assert (await client.get(f"/connect/keys/{other.credential_id}/rotate")).status_code == 404
    resp = await client.post(
        f"/connect/keys/{other.credential_id}/revoke", data={"csrf_token": token}
    )
    assert resp.status_code == 404 and resp.headers["content-type"].startswith("text/html")
    assert f"Signed in as <strong>{signed_in.email}</strong>" in resp.text  # after a rollback
    assert (await credential(runtime, other.credential_id)).status == "active"
    unknown = await client.get("/connect/nope")
    assert unknown.status_code == 404 and "Sign out" in unknown.text


async def test_exposed_secret_shows_a_warning(
    client: httpx.AsyncClient, runtime: App, signed_in: Member
) -> None:
    assert "Secret exposed" not in (await client.get("/connect/keys")).text
    async with runtime.infra.sessionmaker() as session, session.begin():
        cred = await session.get(Credential, signed_in.credential_id)
        assert cred is not None
        cred.secret_exposed_at = runtime.infra.clock()
    assert "Secret exposed" in (await client.get("/connect/keys")).text


async def test_try_it_hands_a_short_token_to_the_playground(
    client: httpx.AsyncClient, signed_in: Member
) -> None:
    token = await form_token(client)
    resp = await client.post(
        f"/connect/keys/{signed_in.credential_id}/try", data={"csrf_token": token}
    )
    assert resp.status_code == 200 and resp.headers["cache-control"] == "no-store"
    assert "/docs" in resp.text and 'id="playground-auth"' in resp.text
    assert "Bearer" not in resp.headers.get("location", "")
    start = resp.text.index('id="playground-auth">') + len('id="playground-auth">')
    data = json.loads(resp.text[start : resp.text.index("</script>", start)])
    assert data["apiKey"] == signed_in.api_key and data["clientId"] == CLIENT_ID
    claims = pyjwt.decode(data["bearer"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] <= 300
    health = await client.get(
        "/api/v1/hr/health",
        headers={
            "Authorization": f"Bearer {data['bearer']}",
            "X-Fluide-Api-Key": data["apiKey"],
            "X-Fluide-Client-Id": data["clientId"],
        },
    )
    assert health.status_code == 200


async def test_the_try_it_token_cannot_rotate_the_secret(
    client: httpx.AsyncClient, runtime: App, signed_in: Member
) -> None:
    # It carries every scope of its credential, but it was minted without the secret and
    # lives in the browser's playground: a new secret must not come out of it.
    resp = await client.post(
        f"/connect/keys/{signed_in.credential_id}/try",
        data={"csrf_token": await form_token(client)},
    )
    start = resp.text.index('id="playground-auth">') + len('id="playground-auth">')
    data = json.loads(resp.text[start : resp.text.index("</script>", start)])
    claims = pyjwt.decode(data["bearer"], options={"verify_signature": False})
    assert claims["via"] == "dashboard" and claims["scope"].split() == list(ALL_SCOPES)
    headers = {
        "Authorization": f"Bearer {data['bearer']}",
        "X-Fluide-Api-Key": data["apiKey"],
        "X-Fluide-Client-Id": data["clientId"],
    }
    for path in ("/api/v1/authorize/rotate-secret", "/api/v1/developer-access/rotate-secret"):
        for grace in (0, 604800):
            refused = await client.post(path, headers=headers, json={"graceSeconds": grace})
            assert refused.status_code == 403, refused.text
            assert refused.json()["code"] == "INSUFFICIENT_SCOPE"
            assert "apiSecret" not in refused.text
    async with runtime.infra.sessionmaker() as session:
        cred = await credential(runtime, signed_in.credential_id)
        assert (cred.generation, cred.previous_secret_hash) == (1, None)
        denied = (
            await session.scalars(
                select(AuditEvent).where(
                    AuditEvent.action == "credential.rotate_secret",
                    AuditEvent.outcome == "denied",
                )
            )
        ).all()
    assert len(denied) == 4 and denied[0].details["via"] == "dashboard"
    exchanged = await client.post(
        "/api/v1/authorize/token",
        headers={
            "X-Fluide-Api-Key": signed_in.api_key,
            "X-Fluide-Api-Secret": signed_in.api_secret,
            "X-Fluide-Client-Id": CLIENT_ID,
        },
    )
    assert exchanged.status_code == 200
    # What it may do: read its credential, revoke itself (and nothing else).
    assert (await client.get("/api/v1/authorize/current", headers=headers)).status_code == 200
    assert (await client.post("/api/v1/authorize/revoke", headers=headers)).status_code == 204
    after = await client.get("/api/v1/authorize/current", headers=headers)
    assert after.json()["code"] == "TOKEN_REVOKED"
    token = exchanged.json()["accessToken"]
    current = await client.get(
        "/api/v1/authorize/current",
        headers={"Authorization": f"Bearer {token}", "X-Fluide-Client-Id": CLIENT_ID},
    )
    assert current.status_code == 200


# ---- usage and audit ----------------------------------------------------------------------------


async def test_usage_page_charts_requests_and_denials(
    client: httpx.AsyncClient, runtime: App, signed_in: Member
) -> None:
    today = runtime.infra.clock().date()
    async with runtime.infra.sessionmaker() as session, session.begin():
        for back, count in ((0, 7), (1, 5), (13, 2), (14, 1000)):  # 14 days back: outside
            session.add(
                UsageDaily(
                    tenant_id=signed_in.tenant_id,
                    credential_id=signed_in.credential_id,
                    day=today - timedelta(days=back),
                    code="",
                    count=count,
                )
            )
        session.add(
            UsageDaily(
                tenant_id=signed_in.tenant_id,
                credential_id=signed_in.credential_id,
                day=today,
                code="INSUFFICIENT_SCOPE",
                count=3,
            )
        )
    resp = await client.get("/connect/usage")
    assert resp.status_code == 200
    text = resp.text
    assert "<svg" in text and text.count("<rect x=") == 3
    assert "Default key" in text and "<td>14</td>" in text  # 7 + 5 + 2 over the window
    assert "INSUFFICIENT_SCOPE" in text and "<td>3</td>" in text


async def test_usage_page_without_traffic(client: httpx.AsyncClient, signed_in: Member) -> None:
    resp = await client.get("/connect/usage")
    assert "No requests in the last 14 days" in resp.text
    assert "No denied requests" in resp.text


async def test_audit_log_filters_and_pages(
    client: httpx.AsyncClient, runtime: App, signed_in: Member
) -> None:
    actor = Actor("system", "test", None, None)
    async with runtime.infra.sessionmaker() as session, session.begin():
        for i in range(30):
            audit.record(
                session,
                runtime.infra.clock,
                actor,
                "token.exchange",
                outcome="denied" if i % 3 == 0 else "success",
                code="DEVELOPER_KEYS_INVALID" if i % 3 == 0 else None,
                tenant_id=signed_in.tenant_id,
                credential_id=signed_in.credential_id,
            )
        other = await create_member(runtime)
        assert other.tenant_id != signed_in.tenant_id
    first = await client.get("/connect/audit")
    assert first.status_code == 200
    assert "page 1 of 2" in first.text and 'rel="next"' in first.text
    assert "credential.create" not in first.text.split("<tbody>")[1]  # oldest are on page 2
    second = await client.get("/connect/audit?page=2")
    assert "credential.create" in second.text and 'rel="prev"' in second.text
    denied = await client.get("/connect/audit?outcome=denied&action=token.exchange")
    assert "10 events" in denied.text and "DEVELOPER_KEYS_INVALID" in denied.text
    by_cred = await client.get(f"/connect/audit?credential={signed_in.credential_id}")
    assert "31 events" in by_cred.text  # 30 + its creation
    # Another tenant's rows never show.
    assert other.account_id not in (await client.get("/connect/audit?page=2")).text
