"""RFC 8414 metadata, the JWKS as RFC 7517 serves it, and introspection (RFC 7662) and
revocation (RFC 7009) over the real app: round trips, and the attacker's calls (another
tenant's tokens, a wrong secret, garbage), which learn and change nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from fluide.app import App
from fluide.catalog import ALL_SCOPES
from fluide.identity.models import IssuedToken
from tests.conftest import CLIENT_ID, Dev, create_dev
from tests.identity.oauth.support import INTROSPECT, REVOKE, basic, error_of, oauth_token, post_form
from tests.identity.support import sign_in_owner

HEALTH = "/api/v1/hr/health"


async def test_metadata_names_every_endpoint_absolutely(
    client: httpx.AsyncClient, runtime: App
) -> None:
    resp = await client.get("/.well-known/oauth-authorization-server")
    assert resp.status_code == 200
    doc = resp.json()
    base = runtime.infra.settings.public_base_url
    assert doc["issuer"] == runtime.infra.settings.issuer
    assert doc["token_endpoint"] == f"{base}/oauth/token"
    assert doc["jwks_uri"] == f"{base}/.well-known/jwks.json"
    assert doc["introspection_endpoint"] == f"{base}/oauth/introspect"
    assert doc["revocation_endpoint"] == f"{base}/oauth/revoke"
    assert doc["grant_types_supported"] == ["client_credentials"]
    methods = ["client_secret_basic", "client_secret_post"]
    for key in ("token", "introspection", "revocation"):
        assert doc[f"{key}_endpoint_auth_methods_supported"] == methods
    assert doc["scopes_supported"] == list(ALL_SCOPES)
    assert doc["service_documentation"] == f"{base}/docs"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"base_url": "https://connect.example.test/"}


async def test_metadata_follows_the_base_url(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/.well-known/oauth-authorization-server")).json()
    assert doc["token_endpoint"] == "https://connect.example.test/oauth/token"


@pytest.mark.parametrize("path", ["/.well-known/jwks.json", "/api/v1/auth/.well-known/jwks.json"])
async def test_jwks_is_a_jwk_set_with_an_etag(
    client: httpx.AsyncClient, runtime: App, path: str
) -> None:
    resp = await client.get(path)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/jwk-set+json"
    assert resp.headers["cache-control"] == "public, max-age=60"
    etag = resp.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    assert resp.json() == runtime.identity.state.keyset.jwks
    for sent in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = await client.get(path, headers={"If-None-Match": sent})
        assert again.status_code == 304, sent
        assert again.content == b"" and again.headers["etag"] == etag
    stale = await client.get(path, headers={"If-None-Match": '"not-it"'})
    assert stale.status_code == 200 and stale.json() == resp.json()


async def test_the_etag_changes_with_the_keys(client: httpx.AsyncClient, runtime: App) -> None:
    from fluide.identity import keyring

    before = (await client.get("/.well-known/jwks.json")).headers["etag"]
    identity = runtime.identity
    async with runtime.infra.sessionmaker() as session, session.begin():
        await keyring.rotate(
            session,
            "ES256",
            identity.encryptor,
            runtime.infra.clock(),
            keyring.max_token_age(runtime.infra.settings),
        )
    async with runtime.infra.sessionmaker() as session:
        identity.state.keyset = await keyring.load_keyset(session, identity.encryptor)
    after = await client.get("/.well-known/jwks.json", headers={"If-None-Match": before})
    assert after.status_code == 200
    assert after.headers["etag"] != before


async def _token(client: httpx.AsyncClient, dev: Dev, scope: str | None = None) -> str:
    resp = await oauth_token(client, dev.api_key, dev.api_secret, scope=scope)
    assert resp.status_code == 200, resp.text
    token: str = resp.json()["access_token"]
    return token


async def introspect(
    client: httpx.AsyncClient, caller: Dev, token: str, method: str = "client_secret_basic"
) -> httpx.Response:
    if method == "client_secret_basic":
        return await post_form(
            client, INTROSPECT, {"token": token}, basic(caller.api_key, caller.api_secret)
        )
    data = {"token": token, "client_id": caller.api_key, "client_secret": caller.api_secret}
    return await post_form(client, INTROSPECT, data)


async def revoke(client: httpx.AsyncClient, caller: Dev, token: str) -> httpx.Response:
    return await post_form(
        client, REVOKE, {"token": token}, basic(caller.api_key, caller.api_secret)
    )


async def product_status(client: httpx.AsyncClient, dev: Dev, token: str) -> int:
    headers = {
        "Authorization": f"Bearer {token}",
        "X-Fluide-Api-Key": dev.api_key,
        "X-Fluide-Client-Id": CLIENT_ID,
    }
    return (await client.get(HEALTH, headers=headers)).status_code


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
async def test_introspect_then_revoke_round_trip(
    client: httpx.AsyncClient, dev: Dev, runtime: App, method: str
) -> None:
    token = await _token(client, dev, scope="hr:read")
    resp = await introspect(client, dev, token, method)
    assert resp.status_code == 200 and resp.headers["cache-control"] == "no-store"
    body = resp.json()
    assert body["active"] is True
    assert body["scope"] == "hr:read"
    assert body["client_id"] == dev.api_key
    assert body["token_type"] == "Bearer"
    assert body["aud"] == runtime.infra.settings.token_audience
    assert body["iss"] == runtime.infra.settings.issuer
    assert body["tenant_id"] == dev.tenant_id and body["sub"] == dev.credential_id
    assert body["exp"] - body["iat"] == 900
    assert await product_status(client, dev, token) == 200
    resp = await revoke(client, dev, token)
    assert resp.status_code == 200 and resp.content == b""
    assert (await introspect(client, dev, token)).json() == {"active": False}
    assert await product_status(client, dev, token) == 401
    async with runtime.infra.sessionmaker() as session:
        row = await session.get(IssuedToken, body["jti"])
    assert row is not None and row.revoked_at is not None
    assert (await revoke(client, dev, token)).status_code == 200  # again: still 200


async def test_a_sibling_key_of_the_same_tenant_sees_and_revokes(
    client: httpx.AsyncClient, runtime: App
) -> None:
    owner = await sign_in_owner(runtime, client)
    a, b = await owner.create_key("a"), await owner.create_key("b")
    dev_a = Dev("", owner.tenant_id, a.credential_id, a.api_key, a.secret)
    dev_b = Dev("", owner.tenant_id, b.credential_id, b.api_key, b.secret)
    token = await _token(client, dev_a)
    assert (await introspect(client, dev_b, token)).json()["active"] is True
    assert (await revoke(client, dev_b, token)).status_code == 200
    assert (await introspect(client, dev_a, token)).json() == {"active": False}


async def test_another_tenant_learns_nothing_and_revokes_nothing(
    client: httpx.AsyncClient, dev: Dev, runtime: App
) -> None:
    attacker = await create_dev(runtime)
    token = await _token(client, dev)
    resp = await introspect(client, attacker, token)
    assert resp.status_code == 200 and resp.json() == {"active": False}
    resp = await revoke(client, attacker, token)
    assert resp.status_code == 200 and resp.content == b""
    # Nothing changed: the owner's token still works, and is still active to its owner.
    assert await product_status(client, dev, token) == 200
    assert (await introspect(client, dev, token)).json()["active"] is True
    async with runtime.infra.sessionmaker() as session:
        revoked = (
            await session.scalars(select(IssuedToken).where(IssuedToken.revoked_at.is_not(None)))
        ).all()
    assert revoked == []


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "a.b.c",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        "x" * 9000,
    ],
)
async def test_garbage_is_inactive_and_revokes_nothing(
    client: httpx.AsyncClient, dev: Dev, token: str
) -> None:
    if token == "":
        resp = await introspect(client, dev, token)
        assert error_of(resp) == (400, "invalid_request")
        return
    assert (await introspect(client, dev, token)).json() == {"active": False}
    assert (await revoke(client, dev, token)).status_code == 200


async def test_expired_and_rotated_away_tokens_are_inactive(
    client: httpx.AsyncClient, runtime: App, clock: Any
) -> None:
    owner = await sign_in_owner(runtime, client)
    key = await owner.create_key()
    dev = Dev("", owner.tenant_id, key.credential_id, key.api_key, key.secret)
    old = await _token(client, dev)
    new_secret = await owner.rotate(key, grace_seconds=0)
    dev = Dev("", owner.tenant_id, key.credential_id, key.api_key, new_secret)
    assert (await introspect(client, dev, old)).json() == {"active": False}
    fresh = await _token(client, dev)
    assert (await introspect(client, dev, fresh)).json()["active"] is True
    clock.advance(901 + runtime.infra.settings.token_leeway_seconds)
    assert (await introspect(client, dev, fresh)).json() == {"active": False}


async def test_introspection_and_revocation_need_client_authentication(
    client: httpx.AsyncClient, dev: Dev
) -> None:
    token = await _token(client, dev)
    for path in (INTROSPECT, REVOKE):
        assert error_of(await post_form(client, path, {"token": token})) == (401, "invalid_client")
        wrong = basic(dev.api_key, "fl_sk_wrong")
        assert error_of(await post_form(client, path, {"token": token}, wrong)) == (
            401,
            "invalid_client",
        )
        both = {"token": token, "client_secret": dev.api_secret}
        resp = await post_form(client, path, both, basic(dev.api_key, dev.api_secret))
        assert error_of(resp) == (400, "invalid_request")
    # The token was not revoked by any of the refused calls.
    assert (await introspect(client, dev, token)).json()["active"] is True
