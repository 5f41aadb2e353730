"""Credential policies over HTTP (issue 21), on SQLite and PostgreSQL: expiry, allowed networks
(the client address behind proxies as DESIGN §5 defines it), a key's own rate limit, restricted
scopes; and the attacks on the route that changes them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from fluide.app import App, create_app
from fluide.identity.models import AuditEvent
from fluide.kit.clock import FrozenClock, iso_z
from tests.conftest import CLIENT_ID, make_settings
from tests.identity.support import Key, Owner, client_from, exchange_headers, sign_in_owner

TOKEN = "/api/v1/authorize/token"
HR = "/api/v1/hr/employees"
PAYROLL = "/api/v1/payroll/settings"


async def create_key(owner: Owner, **policy: Any) -> tuple[Key, dict[str, Any]]:
    resp = await owner.client.post(
        "/api/v1/auth/credentials",
        headers={"Authorization": f"Bearer {owner.session_token}"},
        json={"name": "restricted", **policy},
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    return Key(body["id"], body["apiKey"], body["apiSecret"]), body


async def patch(owner: Owner, credential_id: str, body: Any) -> httpx.Response:
    return await owner.client.patch(
        f"/api/v1/auth/credentials/{credential_id}",
        headers={"Authorization": f"Bearer {owner.session_token}"},
        json=body,
    )


async def token_of(client: httpx.AsyncClient, key: Key, **extra: str) -> httpx.Response:
    return await client.post(TOKEN, headers={**exchange_headers(key.api_key, key.secret), **extra})


def product_headers(key: Key, token: str, **extra: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "X-Fluide-Api-Key": key.api_key,
        "X-Fluide-Client-Id": CLIENT_ID,
        **extra,
    }


def code(resp: httpx.Response) -> str | None:
    return None if resp.status_code < 400 else resp.json()["code"]


@pytest.fixture
async def owner(app: App, runtime: App) -> AsyncIterator[Owner]:
    async with client_from(app, "127.0.0.2") as c:
        yield await sign_in_owner(runtime, c)


async def test_a_key_that_reads_hr_from_one_network_until_a_date_at_10_per_second(
    app: App, owner: Owner, clock: FrozenClock
) -> None:
    """The issue's "done when", end to end."""
    until = clock() + timedelta(minutes=5)  # before the token's own exp
    key, body = await create_key(
        owner,
        scopes=["hr:read"],
        allowedCidrs=["127.0.0.8/29"],
        expiresAt=iso_z(until),
        rateLimit="10/second",
    )
    assert body["scopes"] == ["hr:read"]
    assert body["allowedCidrs"] == ["127.0.0.8/29"]
    assert body["rateLimit"] == "10/second"
    async with client_from(app, "127.0.0.9") as inside:
        resp = await token_of(inside, key)
        assert resp.status_code == 200, resp.text
        token = resp.json()["accessToken"]
        assert resp.json()["scope"] == "hr:read"
        ok = await inside.get(HR, headers=product_headers(key, token))
        assert ok.status_code == 200, ok.text
        assert ok.headers["x-ratelimit-limit"] == "10"
        assert code(await inside.get(PAYROLL, headers=product_headers(key, token))) == (
            "INSUFFICIENT_SCOPE"
        )
        wider = await token_of(inside, key, **{"X-Fluide-Scope": "hr:read hr:write"})
        assert wider.status_code == 400
    async with client_from(app, "127.0.0.16") as outside:
        assert code(await token_of(outside, key)) == "IP_NOT_ALLOWED"
        refused = await outside.get(HR, headers=product_headers(key, token))
        assert (refused.status_code, code(refused)) == (403, "IP_NOT_ALLOWED")
    clock.now = until
    async with client_from(app, "127.0.0.9") as inside:
        expired = await token_of(inside, key)
        assert (expired.status_code, code(expired)) == (401, "CREDENTIAL_EXPIRED")
        assert "FluideApiKey" in expired.headers["www-authenticate"]
        later = await inside.get(HR, headers=product_headers(key, token))
        assert (later.status_code, code(later)) == (401, "CREDENTIAL_EXPIRED")


@pytest.mark.parametrize(
    ("peer", "inside"),
    [("127.0.0.8", True), ("127.0.0.15", True), ("127.0.0.7", False), ("127.0.0.16", False)],
)
async def test_addresses_at_the_edges_of_the_network(
    app: App, owner: Owner, peer: str, inside: bool
) -> None:
    key, _ = await create_key(owner)
    async with client_from(app, "127.0.0.8") as c:
        token = (await token_of(c, key)).json()["accessToken"]
    assert (await patch(owner, key.credential_id, {"allowedCidrs": ["127.0.0.8/29"]})).is_success
    async with client_from(app, peer) as c:
        exchanged = await token_of(c, key)
        called = await c.get(HR, headers=product_headers(key, token))
        # The developer session is the credential's too: the same policy.
        current = await c.get(
            "/api/v1/authorize/current",
            headers={"Authorization": f"Bearer {token}", "X-Fluide-Client-Id": CLIENT_ID},
        )
    want = None if inside else "IP_NOT_ALLOWED"
    assert (code(exchanged), code(called), code(current)) == (want, want, want)


async def test_a_forged_forwarded_for_from_an_untrusted_peer_does_not_pass(
    app: App, owner: Owner
) -> None:
    key, _ = await create_key(owner, allowedCidrs=["127.0.0.8/29"])
    async with client_from(app, "127.0.0.9") as c:
        token = (await token_of(c, key)).json()["accessToken"]
    forged = {"X-Forwarded-For": "127.0.0.9"}
    async with client_from(app, "127.0.0.20") as attacker:
        assert code(await token_of(attacker, key, **forged)) == "IP_NOT_ALLOWED"
        resp = await attacker.get(HR, headers=product_headers(key, token, **forged))
        assert code(resp) == "IP_NOT_ALLOWED"


@pytest.fixture
async def proxied(
    tmp_path: Any, database_url: str, clock: FrozenClock
) -> AsyncIterator[tuple[App, Owner]]:
    """An app behind one trusted proxy at 127.0.0.1."""
    application = create_app(
        make_settings(tmp_path, database_url, trusted_proxies="127.0.0.1"), clock
    )
    async with application.lifespan(), client_from(application, "127.0.0.1") as c:
        yield application, await sign_in_owner(application, c)


@pytest.mark.parametrize(
    ("peer", "forwarded", "inside"),
    [
        ("127.0.0.1", "127.0.0.9", True),  # the proxy saw 127.0.0.9
        ("127.0.0.1", "127.0.0.9, 127.0.0.20", False),  # the client wrote the left entry
        ("127.0.0.1", "127.0.0.20", False),
        ("127.0.0.30", "127.0.0.9", False),  # not our proxy: its header proves nothing
        ("127.0.0.9", "127.0.0.30", True),  # the peer itself is the client
        ("127.0.0.1", "garbage", False),  # nothing readable: the proxy is the client
    ],
)
async def test_behind_a_trusted_proxy_the_client_is_the_address_it_saw(
    proxied: tuple[App, Owner], peer: str, forwarded: str, inside: bool
) -> None:
    application, owner = proxied
    key, _ = await create_key(owner)
    async with client_from(application, "127.0.0.1") as c:
        token = (await token_of(c, key, **{"X-Forwarded-For": "127.0.0.9"})).json()["accessToken"]
    assert (await patch(owner, key.credential_id, {"allowedCidrs": ["127.0.0.8/29"]})).is_success
    headers = {"X-Forwarded-For": forwarded}
    async with client_from(application, peer) as c:
        exchanged = await token_of(c, key, **headers)
        called = await c.get(HR, headers=product_headers(key, token, **headers))
    want = None if inside else "IP_NOT_ALLOWED"
    assert (code(exchanged), code(called)) == (want, want)


@pytest.mark.parametrize(
    ("cidrs", "inside"),
    [(["::1/128"], True), (["2001:db8::/32"], False), (["127.0.0.0/8"], False)],
)
async def test_ipv6_networks(app: App, owner: Owner, cidrs: list[str], inside: bool) -> None:
    key, _ = await create_key(owner, allowedCidrs=cidrs)
    async with client_from(app, "::1") as c:
        exchanged = await token_of(c, key)
    assert code(exchanged) == (None if inside else "IP_NOT_ALLOWED")


async def test_expiry_at_the_boundary_and_the_audit_event(
    app: App, runtime: App, owner: Owner, clock: FrozenClock
) -> None:
    start = clock()
    key, _ = await create_key(owner, expiresAt=iso_z(start + timedelta(seconds=60)))
    async with client_from(app, "127.0.0.9") as c:
        token = (await token_of(c, key)).json()["accessToken"]
        clock.now = start + timedelta(seconds=60) - timedelta(milliseconds=1)
        assert code(await c.get(HR, headers=product_headers(key, token))) is None
        assert code(await token_of(c, key)) is None
        assert await runtime.identity.feed.expiry.run() == 0  # type: ignore[union-attr]
        clock.now = start + timedelta(seconds=60)
        assert code(await c.get(HR, headers=product_headers(key, token))) == "CREDENTIAL_EXPIRED"
        assert code(await token_of(c, key)) == "CREDENTIAL_EXPIRED"
    auditor = runtime.identity.feed.expiry
    assert auditor is not None
    assert await auditor.run() == 1
    assert await auditor.run() == 0  # once per expiry
    async with runtime.infra.sessionmaker() as session:
        n = await session.scalar(
            select(func.count()).where(
                AuditEvent.action == "credential.expire",
                AuditEvent.credential_id == key.credential_id,
            )
        )
    assert n == 1
    # Moving the expiry into the future revives the key.
    moved = await patch(owner, key.credential_id, {"expiresAt": iso_z(clock() + timedelta(1))})
    assert moved.status_code == 200, moved.text
    async with client_from(app, "127.0.0.9") as c:
        assert code(await token_of(c, key)) is None


@pytest.mark.usefixtures("whole_minute")
async def test_a_keys_own_rate_limit_replaces_the_global_one(app: App, owner: Owner) -> None:
    key, _ = await create_key(owner, rateLimit="3/minute")
    async with client_from(app, "127.0.0.9") as c:
        token = (await token_of(c, key)).json()["accessToken"]
        seen = [await c.get(HR, headers=product_headers(key, token)) for _ in range(4)]
        assert [r.status_code for r in seen] == [200, 200, 200, 429]
        assert seen[0].headers["x-ratelimit-limit"] == "3"
        assert "retry-after" in seen[3].headers
        assert (await patch(owner, key.credential_id, {"rateLimit": None})).is_success
        back = await c.get(HR, headers=product_headers(key, token))
        assert back.status_code == 200
        assert back.headers["x-ratelimit-limit"] != "3"


async def test_narrowing_scopes_cuts_tokens_already_minted(app: App, owner: Owner) -> None:
    key, _ = await create_key(owner, scopes=["hr:read", "payroll:read"])
    async with client_from(app, "127.0.0.9") as c:
        token = (await token_of(c, key)).json()["accessToken"]
        assert code(await c.get(PAYROLL, headers=product_headers(key, token))) is None
        assert (await patch(owner, key.credential_id, {"scopes": ["hr:read"]})).is_success
        assert code(await c.get(PAYROLL, headers=product_headers(key, token))) == (
            "INSUFFICIENT_SCOPE"
        )
        assert code(await c.get(HR, headers=product_headers(key, token))) is None
        fresh = await token_of(c, key)
        assert fresh.json()["scope"] == "hr:read"
        # Widening again does not widen the tokens minted narrow.
        assert (await patch(owner, key.credential_id, {"scopes": None})).is_success
        resp = await c.get(PAYROLL, headers=product_headers(key, fresh.json()["accessToken"]))
        assert code(resp) == "INSUFFICIENT_SCOPE"


@pytest.mark.parametrize(("peer", "inside"), [("127.0.0.9", True), ("127.0.0.17", False)])
async def test_oauth_token_applies_the_same_network_policy(
    app: App, owner: Owner, peer: str, inside: bool
) -> None:
    """/oauth/token is the same exchange: a key limited to networks gets no token elsewhere, in
    RFC 6749's words (unauthorized_client), and its introspection refuses it alike."""
    key, _ = await create_key(owner, allowedCidrs=["127.0.0.8/29"])
    form = {"grant_type": "client_credentials"}
    async with client_from(app, peer) as c:
        resp = await c.post("/oauth/token", data=form, auth=(key.api_key, key.secret))
    if inside:
        assert resp.status_code == 200, resp.text
        assert resp.json()["token_type"] == "Bearer"
    else:
        assert resp.status_code == 400, resp.text
        assert resp.json()["error"] == "unauthorized_client"
        assert "access_token" not in resp.json()


async def test_oauth_token_refuses_an_expired_key_as_an_unknown_client(
    app: App, owner: Owner, clock: FrozenClock
) -> None:
    start = clock()
    key, _ = await create_key(owner, expiresAt=iso_z(start + timedelta(seconds=60)))
    form = {"grant_type": "client_credentials"}
    async with client_from(app, "127.0.0.9") as c:
        before = await c.post("/oauth/token", data=form, auth=(key.api_key, key.secret))
        clock.now = start + timedelta(seconds=60)
        after = await c.post("/oauth/token", data=form, auth=(key.api_key, key.secret))
    assert before.status_code == 200, before.text
    assert after.status_code == 401, after.text
    assert after.json()["error"] == "invalid_client"
    assert after.headers["WWW-Authenticate"].startswith("Basic")
