"""Issue 14, finding 1's class of bug, swept: every comparison of a presented value against a
stored one fails closed where nothing (usable) is stored, and never answers 5xx.

One test per comparison, over HTTP against the real app: passwords (sign-in), verification
codes, account session tokens, dashboard CSRF tokens, idempotency fingerprints, the metrics
token, and the secret-exposure check. (The API secret itself: test_exchange_fail_closed.)
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from fluide.app import App
from fluide.identity import formats
from fluide.identity.audit import Actor
from fluide.identity.models import Account, Credential, EmailVerification
from fluide.kit.clock import FrozenClock
from tests.conftest import Dev, bearer, create_dev, exchange, make_settings
from tests.dashboard.support import PASSWORD, create_member, csrf_of
from tests.identity.support import DECOY, sign_in_owner

SYSTEM = Actor("system", "test", None, None)
# What main's code compared against where nothing was stored: plaintexts of its fillers.
FILLERS = ["fluide-dummy-password", DECOY, "", " ", "\x00", "null", "None"]


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "signin_limit": "1000/minute",
        "signin_failure_limit": "1000/minute",
        "signin_account_failure_limit": "1000/minute",
    }


# ---- passwords ---------------------------------------------------------------------------------


async def test_an_account_without_a_password_signs_in_with_nothing(
    client: httpx.AsyncClient, runtime: App
) -> None:
    """Accounts made by ``fluide accounts create`` without ``--password`` store no hash; the
    sign-in compares against a dummy hash then, and its password must not sign in."""
    dev = await create_dev(runtime)  # no password
    async with runtime.infra.sessionmaker() as session:
        email = await session.scalar(select(Account.email).where(Account.id == dev.account_id))
    for password in FILLERS:
        resp = await client.post("/api/v1/auth/signin", json={"email": email, "password": password})
        # A NUL never reaches the comparison: the edge refuses it (kit.limits).
        expected = (
            (400, "VALIDATION_FAILED") if "\x00" in password else (401, "INVALID_CREDENTIALS")
        )
        assert (resp.status_code, resp.json()["code"]) == expected, password
    unknown = f"nobody-{uuid.uuid4().hex[:6]}@example.com"
    resp = await client.post(
        "/api/v1/auth/signin", json={"email": unknown, "password": "fluide-dummy-password"}
    )
    assert (resp.status_code, resp.json()["code"]) == (401, "INVALID_CREDENTIALS")


# ---- verification codes ------------------------------------------------------------------------


async def _unverified(rt: App) -> tuple[str, str]:
    email = f"new-{uuid.uuid4().hex[:8]}@example.com"
    async with rt.infra.sessionmaker() as session, session.begin():
        _, code = await rt.identity.accounts.sign_up(
            session, SYSTEM, email=email, password=PASSWORD, tenant_name=None
        )
    return email, code


async def _is_verified(rt: App, email: str) -> bool:
    async with rt.infra.sessionmaker() as session:
        return (
            await session.scalar(select(Account.email_verified_at).where(Account.email == email))
        ) is not None


async def test_no_pending_code_verifies_nothing(client: httpx.AsyncClient, runtime: App) -> None:
    email, code = await _unverified(runtime)
    async with runtime.infra.sessionmaker() as session, session.begin():  # every code used up
        await session.execute(update(EmailVerification).values(consumed_at=runtime.infra.clock()))
    for attempt in (code, "000000", " 000000 "):
        resp = await client.post("/api/v1/auth/verify", json={"email": email, "code": attempt})
        assert resp.status_code == 400 and "apiSecret" not in resp.text
        assert resp.json()["code"] == "VERIFICATION_CODE_INVALID"
    assert not await _is_verified(runtime, email)


async def test_an_unknown_email_verifies_nothing(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/api/v1/auth/verify", json={"email": "ghost@example.com", "code": "000000"}
    )
    assert 400 <= resp.status_code < 500 and "apiSecret" not in resp.text


async def test_malformed_codes_are_refused_before_any_comparison(
    client: httpx.AsyncClient, runtime: App
) -> None:
    email, _ = await _unverified(runtime)
    for attempt in ("", "      ", "12345", "1234567", "abcdef"):
        resp = await client.post("/api/v1/auth/verify", json={"email": email, "code": attempt})
        assert (resp.status_code, resp.json()["code"]) == (400, "VALIDATION_FAILED"), attempt
    # Other scripts' digits pass the schema's \d and are compared: a wrong code, not a 5xx.
    resp = await client.post("/api/v1/auth/verify", json={"email": email, "code": "١٢٣٤٥٦"})
    assert (resp.status_code, resp.json()["code"]) == (400, "VERIFICATION_CODE_INVALID")
    assert not await _is_verified(runtime, email)


# ---- account session tokens --------------------------------------------------------------------


async def test_only_a_live_session_token_is_a_session(
    client: httpx.AsyncClient, runtime: App, clock: FrozenClock
) -> None:
    owner = await sign_in_owner(runtime, client)
    me = "/api/v1/auth/me"

    async def status(token: str | None) -> int:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return (await client.get(me, headers=headers)).status_code

    assert await status(owner.session_token) == 200
    digest = runtime.identity.hasher.digest(owner.session_token)  # what the table stores
    forged = [None, "", DECOY, digest, formats.new_session_token(), formats.new_api_secret()]
    for token in forged:
        assert await status(token) == 401
    signed_out = await sign_in_owner(runtime, client)
    resp = await client.post(
        "/api/v1/auth/signout", headers={"Authorization": f"Bearer {signed_out.session_token}"}
    )
    assert resp.status_code == 204
    assert await status(signed_out.session_token) == 401
    clock.advance(runtime.infra.settings.session_ttl_seconds + 1)
    assert await status(owner.session_token) == 401


# ---- dashboard CSRF ----------------------------------------------------------------------------


async def test_csrf_fails_closed_on_any_value(client: httpx.AsyncClient, runtime: App) -> None:
    member = await create_member(runtime)
    page = await client.get("/connect/signin")
    good = csrf_of(page.text)
    form = {"email": member.email, "password": PASSWORD}
    for token in ["", " ", DECOY, "é" * 64, "\u2603" * 10, good.upper(), good[:-1], "0" * 64]:
        resp = await client.post("/connect/signin", data={**form, "csrf_token": token})
        assert resp.status_code == 403, (token, resp.status_code)
        assert "fluide_session" not in resp.headers.get("set-cookie", "")
    # Without the cookie the token it was made for is worth nothing.
    client.cookies.delete("fluide_csrf")
    resp = await client.post("/connect/signin", data={**form, "csrf_token": good})
    assert resp.status_code == 403
    client.cookies.set("fluide_csrf", "")
    resp = await client.post("/connect/signin", data={**form, "csrf_token": good})
    assert resp.status_code == 403


# ---- idempotency fingerprints ------------------------------------------------------------------


async def test_a_replay_never_answers_a_different_request(
    client: httpx.AsyncClient, dev: Dev
) -> None:
    token = (await exchange(client, dev))["accessToken"]
    headers = {**bearer(token, dev), "Idempotency-Key": "same-key"}
    first = await client.post(
        "/api/v1/pay/wallets/NGN/fund", headers=headers, json={"amount": "10.00"}
    )
    assert first.status_code == 200, first.text
    replay = await client.post(
        "/api/v1/pay/wallets/NGN/fund", headers=headers, json={"amount": "10.00"}
    )
    assert replay.headers.get("idempotent-replayed") == "true" and replay.json() == first.json()
    for path, body in [
        ("/api/v1/pay/wallets/USD/fund", {"amount": "10.00"}),  # another path, same body
        ("/api/v1/pay/wallets/NGN/fund", {"amount": "10.01"}),  # same path, another body
        ("/api/v1/pay/wallets/NGN/fund", {"amount": "10.00", "reference": "x"}),
    ]:
        resp = await client.post(path, headers=headers, json=body)
        assert resp.status_code in (409, 400), (path, body, resp.text)
        assert resp.headers.get("idempotent-replayed") is None


# ---- metrics token -----------------------------------------------------------------------------


@pytest.mark.parametrize("configured", ["", " ", "\t"])
async def test_a_blank_metrics_token_is_no_token(
    tmp_path: Any, database_url: str, clock: FrozenClock, configured: str
) -> None:
    from fluide.app import create_app

    app: App = create_app(make_settings(tmp_path, database_url, metrics_token=configured), clock)
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            for auth in (f"Bearer {configured}", "Bearer ", "Bearer", None, "Bearer \t"):
                headers = {"Authorization": auth} if auth is not None else {}
                resp = await c.get("/metrics", headers=headers)
                # 404 as if unconfigured (a tab in a header is refused earlier, 400)
                assert resp.status_code in (404, 400), (repr(configured), repr(auth))
                assert "fluide_" not in resp.text


# ---- the secret-exposure check -----------------------------------------------------------------


async def test_only_a_live_secret_flags_its_credential(
    client: httpx.AsyncClient, runtime: App, clock: FrozenClock
) -> None:
    owner = await sign_in_owner(runtime, client)
    key = await owner.create_key()
    graced = await owner.rotate(key, 60)
    clock.advance(61)  # the first secret's grace is over
    current = await owner.rotate(key, 0)  # and the second stopped at once
    for secret in (DECOY, key.secret, graced, formats.new_api_secret(), key.api_key):
        resp = await client.get(
            "/api/v1/hr/health",
            headers={"X-Fluide-Api-Key": key.api_key, "X-Fluide-Api-Secret": secret},
        )
        assert (resp.status_code, resp.json()["code"]) == (400, "API_SECRET_NOT_ALLOWED")
    async with runtime.infra.sessionmaker() as session:
        exposed = await session.scalar(
            select(Credential.secret_exposed_at).where(Credential.id == key.credential_id)
        )
    assert exposed is None
    resp = await client.get(
        "/api/v1/hr/health",
        headers={"X-Fluide-Api-Key": key.api_key, "X-Fluide-Api-Secret": current},
    )
    assert resp.status_code == 400
    async with runtime.infra.sessionmaker() as session:
        exposed = await session.scalar(
            select(Credential.secret_exposed_at).where(Credential.id == key.credential_id)
        )
    assert exposed is not None
