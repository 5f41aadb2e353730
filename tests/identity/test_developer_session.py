"""Developer session routes (DESIGN §3.3): current, rotate-secret, revoke, auth-context."""

from __future__ import annotations

import httpx
import jwt as pyjwt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from fluide.app import App
from fluide.catalog import ALL_SCOPES
from fluide.identity import credentials
from fluide.identity.audit import Actor
from fluide.identity.models import AuditEvent, Credential
from fluide.kit.clock import FrozenClock
from tests.conftest import CLIENT_ID, Dev, bearer, create_dev, exchange

TOKEN = "/api/v1/authorize/token"
CURRENT = "/api/v1/authorize/current"
ROTATE = "/api/v1/authorize/rotate-secret"
REVOKE = "/api/v1/authorize/revoke"


def token_jti(token: str) -> str:
    jti: str = pyjwt.decode(token, options={"verify_signature": False})["jti"]
    return jti


async def test_current_describes_the_credential_and_never_the_secret(
    client: httpx.AsyncClient, dev: Dev, runtime: App
) -> None:
    token = (await exchange(client, dev))["accessToken"]
    resp = await client.get(CURRENT, headers=bearer(token))
    assert resp.status_code == 200
    body = resp.json()
    for field in (
        "apiKey",
        "name",
        "status",
        "environment",
        "tenantId",
        "scopes",
        "createdAt",
        "secretRotatedAt",
        "lastUsedAt",
        "previousSecretExpiresAt",
        "secretExposedAt",
    ):
        assert field in body
    assert body["apiKey"] == dev.api_key
    assert body["status"] == "active"
    async with runtime.infra.sessionmaker() as session:
        stored = await session.scalar(
            select(Credential.secret_hash).where(Credential.id == dev.credential_id)
        )
    assert stored
    assert dev.api_secret not in resp.text
    assert stored not in resp.text
    assert "secret_hash" not in resp.text.lower()
    assert "secretHash" not in resp.text


async def test_current_with_a_matching_key_and_with_a_mismatched_one(
    client: httpx.AsyncClient, dev: Dev, runtime: App
) -> None:
    token = (await exchange(client, dev))["accessToken"]
    assert (await client.get(CURRENT, headers=bearer(token, dev))).status_code == 200
    other = await create_dev(runtime)
    resp = await client.get(CURRENT, headers={**bearer(token), "X-Fluide-Api-Key": other.api_key})
    assert resp.status_code == 401
    assert resp.json()["code"] == "API_KEY_MISMATCH"


async def test_session_routes_need_bearer_and_client_id(
    client: httpx.AsyncClient, dev: Dev
) -> None:
    token = (await exchange(client, dev))["accessToken"]
    resp = await client.get(CURRENT)
    assert (resp.status_code, resp.json()["code"]) == (401, "AUTHORIZATION_MISSING")
    assert resp.json()["message"] == "Authorization field missing"
    resp = await client.get(CURRENT, headers={"Authorization": token})
    assert resp.json()["code"] == "AUTHORIZATION_MALFORMED"
    resp = await client.get(CURRENT, headers={"Authorization": f"Bearer {token}"})
    assert resp.json()["code"] == "MISSING_CLIENT_ID"
    resp = await client.get(CURRENT, headers=bearer(token, client_id="fluide-admin"))
    assert resp.json()["code"] == "CLIENT_AUDIENCE_MISMATCH"
    resp = await client.get(CURRENT, headers=bearer(token[:-4] + "AAAA"))
    assert resp.json()["code"] == "TOKEN_INVALID"


async def test_expired_token(client: httpx.AsyncClient, dev: Dev, clock: FrozenClock) -> None:
    body = await exchange(client, dev)
    clock.advance(body["expiresIn"] + 60)
    resp = await client.get(CURRENT, headers=bearer(body["accessToken"]))
    assert (resp.status_code, resp.json()["code"]) == (401, "TOKEN_EXPIRED")
    assert resp.json()["message"] == "Access token has expired"


async def test_rotation_without_grace_stops_the_old_secret_and_old_tokens(
    client: httpx.AsyncClient, dev: Dev, runtime: App
) -> None:
    earlier = await exchange(client, dev)
    caller = await exchange(client, dev)
    resp = await client.post(
        ROTATE, headers=bearer(caller["accessToken"]), json={"graceSeconds": 0}
    )
    assert resp.status_code == 200
    rotated = resp.json()
    assert set(rotated) == {"apiKey", "apiSecret", "rotatedAt", "previousSecretExpiresAt"}
    assert rotated["previousSecretExpiresAt"] is None
    assert rotated["apiSecret"] != dev.api_secret
    assert resp.headers["cache-control"] == "no-store"

    old = await client.post(TOKEN, headers=dev.exchange_headers())
    assert (old.status_code, old.json()["code"]) == (401, "DEVELOPER_KEYS_INVALID")
    for token in (earlier["accessToken"], caller["accessToken"]):
        refused = await client.get(CURRENT, headers=bearer(token))
        assert (refused.status_code, refused.json()["code"]) == (401, "TOKEN_REVOKED")

    fresh = await exchange(client, dev, secret=rotated["apiSecret"])
    ctx = await client.get(earlier["authContextPath"], headers=bearer(fresh["accessToken"]))
    assert ctx.status_code == 200
    assert ctx.json()["status"] == "revoked"
    assert (await client.get(CURRENT, headers=bearer(fresh["accessToken"]))).status_code == 200
    async with runtime.infra.sessionmaker() as session:
        rows = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == "credential.rotate_secret")
            )
        ).all()
    assert len(rows) == 1
    assert rotated["apiSecret"] not in str(rows[0].details)


async def test_rotation_with_grace_keeps_both_secrets_inside_the_window(
    client: httpx.AsyncClient, dev: Dev, clock: FrozenClock
) -> None:
    caller = await exchange(client, dev)
    resp = await client.post(
        ROTATE, headers=bearer(caller["accessToken"]), json={"graceSeconds": 60}
    )
    assert resp.status_code == 200
    new_secret = resp.json()["apiSecret"]
    assert resp.json()["previousSecretExpiresAt"] is not None

    clock.advance(59)
    assert (await client.post(TOKEN, headers=dev.exchange_headers())).status_code == 200
    assert (await client.post(TOKEN, headers=dev.exchange_headers(new_secret))).status_code == 200
    # Tokens minted before a graceful rotation live to their exp.
    assert (await client.get(CURRENT, headers=bearer(caller["accessToken"]))).status_code == 200

    clock.advance(2)
    old = await client.post(TOKEN, headers=dev.exchange_headers())
    assert (old.status_code, old.json()["code"]) == (401, "DEVELOPER_KEYS_INVALID")
    assert (await client.post(TOKEN, headers=dev.exchange_headers(new_secret))).status_code == 200


async def test_rotate_validates_grace(client: httpx.AsyncClient, dev: Dev) -> None:
    token = (await exchange(client, dev))["accessToken"]
    for bad in (-1, 604801, "soon"):
        resp = await client.post(ROTATE, headers=bearer(token), json={"graceSeconds": bad})
        assert (resp.status_code, resp.json()["code"]) == (400, "VALIDATION_FAILED")
        assert "graceSeconds" in resp.json()["errors"]


async def test_revoke_signs_the_token_out(client: httpx.AsyncClient, dev: Dev) -> None:
    token = await exchange(client, dev)
    other = await exchange(client, dev)
    resp = await client.post(REVOKE, headers=bearer(token["accessToken"]))
    assert resp.status_code == 204
    refused = await client.get(CURRENT, headers=bearer(token["accessToken"]))
    assert refused.json()["code"] == "TOKEN_REVOKED"
    ctx = await client.get(token["authContextPath"], headers=bearer(other["accessToken"]))
    assert ctx.json()["status"] == "revoked"
    assert (await client.get(CURRENT, headers=bearer(other["accessToken"]))).status_code == 200


async def test_auth_context_statuses_and_ownership(
    client: httpx.AsyncClient, dev: Dev, runtime: App, clock: FrozenClock
) -> None:
    short = await exchange(client, dev)
    ctx = await client.get(short["authContextPath"], headers=bearer(short["accessToken"]))
    assert ctx.status_code == 200
    body = ctx.json()
    assert body["status"] == "active"
    assert body["jti"] == short["jti"]
    assert body["fluideClientId"] == CLIENT_ID
    assert body["apiKey"] == dev.api_key
    assert body["scopes"] == short["scope"].split()

    other = await create_dev(runtime)
    theirs = await exchange(client, other)
    resp = await client.get(theirs["authContextPath"], headers=bearer(short["accessToken"]))
    assert (resp.status_code, resp.json()["code"]) == (404, "NOT_FOUND")
    resp = await client.get("/api/v1/auth-context/nope", headers=bearer(short["accessToken"]))
    assert resp.status_code == 404

    clock.advance(short["expiresIn"] + 30)
    later = await exchange(client, dev)
    ctx = await client.get(short["authContextPath"], headers=bearer(later["accessToken"]))
    assert ctx.json()["status"] == "expired"


async def test_revoked_credential_refuses_exchange_and_its_tokens(
    client: httpx.AsyncClient, dev: Dev, runtime: App
) -> None:
    token = (await exchange(client, dev))["accessToken"]
    from fluide.identity.audit import SYSTEM

    async with runtime.infra.sessionmaker() as session, session.begin():
        cred = await credentials.get_for_tenant(session, dev.tenant_id, dev.credential_id)
        await runtime.identity.credentials.revoke(session, SYSTEM, cred)
    await runtime.identity.feed.changed()
    resp = await client.post(TOKEN, headers=dev.exchange_headers())
    assert (resp.status_code, resp.json()["code"]) == (401, "CREDENTIAL_REVOKED")
    resp = await client.get(CURRENT, headers=bearer(token))
    assert (resp.status_code, resp.json()["code"]) == (401, "CREDENTIAL_REVOKED")


async def test_legacy_alias_paths(client: httpx.AsyncClient, dev: Dev) -> None:
    token = (await exchange(client, dev))["accessToken"]
    resp = await client.get("/api/v1/developer-access/current", headers=bearer(token))
    assert resp.status_code == 200
    resp = await client.post(
        "/api/v1/developer-access/rotate-secret", headers=bearer(token), json={"graceSeconds": 10}
    )
    assert resp.status_code == 200


# ---- finding 2: a narrowed token cannot widen itself through a rotation --------------------


async def _narrowed(client: httpx.AsyncClient, dev: Dev, scope: str) -> str:
    resp = await client.post(TOKEN, headers={**dev.exchange_headers(), "X-Fluide-Scope": scope})
    assert resp.status_code == 200, resp.text
    token: str = resp.json()["accessToken"]
    return token


async def _rotation_events(runtime: App, dev: Dev) -> list[AuditEvent]:
    async with runtime.infra.sessionmaker() as session:
        rows = await session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "credential.rotate_secret",
                AuditEvent.credential_id == dev.credential_id,
            )
        )
        return list(rows.all())


async def test_a_narrowed_token_cannot_rotate(
    client: httpx.AsyncClient, dev: Dev, runtime: App
) -> None:
    narrow = await _narrowed(client, dev, "hr:read")
    for path in (ROTATE, "/api/v1/developer-access/rotate-secret"):
        resp = await client.post(path, headers=bearer(narrow, dev), json={"graceSeconds": 604800})
        assert resp.status_code == 403, resp.text
        body = resp.json()
        # The first scope of the credential the token lacks.
        assert body["code"] == "INSUFFICIENT_SCOPE"
        assert body["message"] == "This operation requires the 'hr:write' scope"
        assert resp.headers["www-authenticate"].startswith('Bearer error="insufficient_scope"')
        assert "apiSecret" not in resp.text
    # Nothing changed: the secret still exchanges, the generation and the grace are untouched,
    # the refusals are audited.
    await exchange(client, dev)
    async with runtime.infra.sessionmaker() as session:
        cred = await session.get(Credential, dev.credential_id)
        assert cred is not None
        assert (cred.generation, cred.previous_secret_hash) == (1, None)
    events = await _rotation_events(runtime, dev)
    assert [(e.outcome, e.code) for e in events] == [("denied", "INSUFFICIENT_SCOPE")] * 2
    # The narrowed token still does what it may: read, sign itself out.
    assert (await client.get(CURRENT, headers=bearer(narrow, dev))).status_code == 200
    assert (await client.post(REVOKE, headers=bearer(narrow, dev))).status_code == 204


async def test_a_token_narrowed_to_every_scope_may_rotate(
    client: httpx.AsyncClient, dev: Dev
) -> None:
    # Narrowed in form only: it carries every scope of its credential.
    full = await _narrowed(client, dev, " ".join(reversed(ALL_SCOPES)))
    resp = await client.post(ROTATE, headers=bearer(full, dev), json={"graceSeconds": 60})
    assert resp.status_code == 200, resp.text
    await exchange(client, dev, secret=resp.json()["apiSecret"])


async def _credential_with(runtime: App, dev: Dev, scopes: list[str]) -> Dev:
    actor = Actor("system", "test", None, None)
    async with runtime.infra.sessionmaker() as session, session.begin():
        issued = await runtime.identity.credentials.create(
            session,
            actor,
            tenant_id=dev.tenant_id,
            account_id=dev.account_id,
            name="narrow key",
            scopes=scopes,
        )
    return Dev(
        dev.account_id,
        dev.tenant_id,
        issued.credential.id,
        issued.credential.api_key,
        issued.api_secret,
    )


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_a_token_rotates_iff_it_carries_every_scope_of_its_credential(
    client: httpx.AsyncClient, dev: Dev, runtime: App, data: st.DataObject
) -> None:
    granted = data.draw(st.sets(st.sampled_from(ALL_SCOPES), min_size=1), label="credential")
    carried = data.draw(st.sets(st.sampled_from(sorted(granted)), min_size=1), label="token")
    grace = data.draw(st.sampled_from([0, 60, 604800]), label="grace")
    cred = await _credential_with(runtime, dev, sorted(granted))
    token = await _narrowed(client, cred, " ".join(sorted(carried)))
    resp = await client.post(ROTATE, headers=bearer(token, cred), json={"graceSeconds": grace})
    missing = [s for s in ALL_SCOPES if s in granted and s not in carried]
    if missing:
        assert resp.status_code == 403, resp.text
        assert resp.json()["message"] == f"This operation requires the '{missing[0]}' scope"
        await exchange(client, cred)  # the secret did not change
    else:
        assert resp.status_code == 200, resp.text
        await exchange(client, cred, secret=resp.json()["apiSecret"])


async def test_secret_header_on_session_routes_is_refused_and_flags(
    client: httpx.AsyncClient, dev: Dev, runtime: App
) -> None:
    token = (await exchange(client, dev))["accessToken"]
    headers = {**bearer(token, dev), "X-Fluide-Api-Secret": dev.api_secret}
    jti = token_jti(token)
    for method, path in (
        ("GET", CURRENT),
        ("POST", ROTATE),
        ("POST", REVOKE),
        ("GET", f"/api/v1/auth-context/{jti}"),
        ("GET", "/api/v1/developer-access/current"),
        ("POST", "/api/v1/developer-access/rotate-secret"),
    ):
        resp = await client.request(method, path, headers=headers, json={"graceSeconds": 0})
        assert resp.status_code == 400, (path, resp.text)
        assert resp.json()["code"] == "API_SECRET_NOT_ALLOWED"
        assert dev.api_secret not in resp.text
    # The live secret was flagged, once, and audited; nothing else happened.
    async with runtime.infra.sessionmaker() as session:
        cred = await session.get(Credential, dev.credential_id)
        assert cred is not None and cred.secret_exposed_at is not None
        assert cred.generation == 1
        exposed = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == "credential.secret_exposed")
            )
        ).all()
    assert len(exposed) == 1 and exposed[0].details["path"] == CURRENT
    assert (await client.get(CURRENT, headers=bearer(token, dev))).status_code == 200
