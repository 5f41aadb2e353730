"""The guard (DESIGN §3.5): every row 1–12 with its status and code, bindings, forged tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from fluide.app import App
from fluide.identity import credentials, jwt_core
from fluide.identity.audit import SYSTEM
from fluide.kit.clock import FrozenClock
from tests.conftest import CLIENT_ID, Dev, bearer, create_dev, exchange

HEALTH = "/api/v1/hr/health"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"product_rate_limit": "5/hour"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segments(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"


def claims_for(rt: App, dev: Dev, **overrides: Any) -> dict[str, Any]:
    now = int(rt.infra.clock().timestamp())
    claims: dict[str, Any] = {
        "iss": rt.infra.settings.issuer,
        "aud": rt.infra.settings.token_audience,
        "sub": dev.credential_id,
        "iat": now,
        "nbf": now,
        "exp": now + 900,
        "jti": uuid.uuid4().hex,
        "tenant_id": dev.tenant_id,
        "fluide_client_id": CLIENT_ID,
        "api_key": dev.api_key,
        "scope": "hr:read hr:write",
        "gen": 1,
    }
    claims.update(overrides)
    return claims


def mint(rt: App, claims: dict[str, Any]) -> str:
    key = rt.identity.state.keyset.signing_key
    assert key is not None
    return jwt_core.mint(claims, key)


async def call(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await client.get(HEALTH, headers=headers)


def assert_error(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body: dict[str, Any] = resp.json()
    assert body["code"] == code
    assert body["success"] is False and body["statusCode"] == status
    assert body["requestId"] == resp.headers["x-request-id"]
    return body


# ---- the table ---------------------------------------------------------------------------------

Headers = Callable[[httpx.AsyncClient, App, Dev, FrozenClock], Awaitable[dict[str, str]]]


async def valid(client: httpx.AsyncClient, rt: App, dev: Dev, clock: FrozenClock) -> dict:
    return bearer((await exchange(client, dev))["accessToken"], dev)


async def row1(client: httpx.AsyncClient, rt: App, dev: Dev, clock: FrozenClock) -> dict:
    return {**await valid(client, rt, dev, clock), "X-Fluide-Api-Secret": "anything"}


async def row2(client: httpx.AsyncClient, rt: App, dev: Dev, clock: FrozenClock) -> dict:
    headers = await valid(client, rt, dev, clock)
    del headers["Authorization"]
    return headers


async def row3(client: httpx.AsyncClient, rt: App, dev: Dev, clock: FrozenClock) -> dict:
    token = (await exchange(client, dev))["accessToken"]
    return {**bearer(token, dev), "Authorization": f"Token {token}"}


async def row4_key(client: httpx.AsyncClient, rt: App, dev: Dev, clock: FrozenClock) -> dict:
    return bearer((await exchange(client, dev))["accessToken"])


async def row4_client(client: httpx.AsyncClient, rt: App, dev: Dev, clock: FrozenClock) -> dict:
    headers = await valid(client, rt, dev, clock)
    del headers["X-Fluide-Client-Id"]
    return headers


async def row5(client: httpx.AsyncClient, rt: App, dev: Dev, clock: FrozenClock) -> dict:
    token = (await exchange(client, dev))["accessToken"]
    head, payload, sig = token.split(".")
    flipped = sig[:-2] + ("AA" if sig[-2:] != "AA" else "BB")
    return bearer(f"{head}.{payload}.{flipped}", dev)


async def row6(client: httpx.AsyncClient, rt: App, dev: Dev, clock: FrozenClock) -> dict:
    headers = await valid(client, rt, dev, clock)
    clock.advance(900 + rt.infra.settings.token_leeway_seconds + 1)
    return headers


async def row7(client: httpx.AsyncClient, rt: App, dev: Dev, clock: FrozenClock) -> dict:
    headers = await valid(client, rt, dev, clock)
    resp = await client.post("/api/v1/authorize/revoke", headers=headers)
    assert resp.status_code == 204
    return headers


async def row8(client: httpx.AsyncClient, rt: App, dev: Dev, clock: FrozenClock) -> dict:
    return {**await valid(client, rt, dev, clock), "X-Fluide-Client-Id": "fluide-admin"}


async def row9(client: httpx.AsyncClient, rt: App, dev: Dev, clock: FrozenClock) -> dict:
    other = await create_dev(rt)
    return {**await valid(client, rt, dev, clock), "X-Fluide-Api-Key": other.api_key}


async def row10(client: httpx.AsyncClient, rt: App, dev: Dev, clock: FrozenClock) -> dict:
    headers = await valid(client, rt, dev, clock)
    async with rt.infra.sessionmaker() as session, session.begin():
        cred = await credentials.get_for_tenant(session, dev.tenant_id, dev.credential_id)
        await rt.identity.credentials.revoke(session, SYSTEM, cred)
    await rt.identity.feed.changed()
    return headers


async def row11(client: httpx.AsyncClient, rt: App, dev: Dev, clock: FrozenClock) -> dict:
    resp = await client.post(
        "/api/v1/authorize/token", headers={**dev.exchange_headers(), "X-Fluide-Scope": "pay:read"}
    )
    assert resp.status_code == 200, resp.text
    return bearer(resp.json()["accessToken"], dev)


async def row12(client: httpx.AsyncClient, rt: App, dev: Dev, clock: FrozenClock) -> dict:
    headers = await valid(client, rt, dev, clock)
    for _ in range(5):  # the limit of this module is 5/hour
        assert (await call(client, headers)).status_code == 200
    return headers


ROWS: list[tuple[str, Headers, int, str]] = [
    ("1 secret present", row1, 400, "API_SECRET_NOT_ALLOWED"),
    ("2 no Authorization", row2, 401, "AUTHORIZATION_MISSING"),
    ("3 not Bearer", row3, 401, "AUTHORIZATION_MALFORMED"),
    ("4 no API key", row4_key, 401, "MISSING_API_KEY"),
    ("4 no client id", row4_client, 401, "MISSING_CLIENT_ID"),
    ("5 bad signature", row5, 401, "TOKEN_INVALID"),
    ("6 expired", row6, 401, "TOKEN_EXPIRED"),
    ("7 revoked", row7, 401, "TOKEN_REVOKED"),
    ("8 client mismatch", row8, 401, "CLIENT_AUDIENCE_MISMATCH"),
    ("9 key mismatch", row9, 401, "API_KEY_MISMATCH"),
    ("10 credential revoked", row10, 401, "CREDENTIAL_REVOKED"),
    ("11 scope", row11, 403, "INSUFFICIENT_SCOPE"),
    ("12 rate limit", row12, 429, "RATE_LIMITED"),
]


@pytest.mark.parametrize(("row", "make", "status", "code"), ROWS, ids=[r[0] for r in ROWS])
async def test_every_row_of_the_guard(
    client: httpx.AsyncClient,
    runtime: App,
    dev: Dev,
    clock: FrozenClock,
    row: str,
    make: Headers,
    status: int,
    code: str,
) -> None:
    headers = await make(client, runtime, dev, clock)
    body = assert_error(await call(client, headers), status, code)
    resp = await call(client, headers)  # the same again: also answered from the token cache
    assert_error(resp, status, code)
    if code == "AUTHORIZATION_MISSING":
        assert body["message"] == "Authorization field missing"
        assert resp.headers["www-authenticate"] == "Bearer"
    if code == "INSUFFICIENT_SCOPE":
        assert "hr:read" in body["message"]
    if code == "RATE_LIMITED":
        assert int(resp.headers["retry-after"]) >= 1
        assert resp.headers["x-ratelimit-limit"] == "5"
        assert resp.headers["x-ratelimit-remaining"] == "0"
        assert int(resp.headers["x-ratelimit-reset"]) > time.time() - 1


async def test_valid_request_passes_with_rate_limit_headers(
    client: httpx.AsyncClient, dev: Dev
) -> None:
    headers = bearer((await exchange(client, dev))["accessToken"], dev)
    first = await call(client, headers)
    assert first.status_code == 200, first.text
    assert first.json() == {"status": "ok", "service": "fluide-hr", "checks": {"database": "up"}}
    assert first.headers["x-ratelimit-limit"] == "5"
    assert first.headers["x-ratelimit-remaining"] == "4"
    second = await call(client, headers)
    assert second.headers["x-ratelimit-remaining"] == "3"


async def test_first_failing_check_answers(client: httpx.AsyncClient, dev: Dev) -> None:
    # Secret beats everything; missing Authorization beats a missing key and client id.
    resp = await client.get(HEALTH, headers={"X-Fluide-Api-Secret": "x"})
    assert_error(resp, 400, "API_SECRET_NOT_ALLOWED")
    assert_error(await client.get(HEALTH), 401, "AUTHORIZATION_MISSING")
    # A missing key is reported before a missing client id, both before the token is looked at.
    resp = await client.get(HEALTH, headers={"Authorization": "Bearer a.b.c"})
    assert_error(resp, 401, "MISSING_API_KEY")
    resp = await client.get(
        HEALTH, headers={"Authorization": "Bearer a.b.c", "X-Fluide-Api-Key": "k"}
    )
    assert_error(resp, 401, "MISSING_CLIENT_ID")


@pytest.mark.parametrize(
    "value", ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer a.b", "Bearer a b.c.d", "eyJ"]
)
async def test_malformed_authorization(client: httpx.AsyncClient, dev: Dev, value: str) -> None:
    headers = {
        "Authorization": value,
        "X-Fluide-Api-Key": dev.api_key,
        "X-Fluide-Client-Id": CLIENT_ID,
    }
    resp = await call(client, headers)
    expected = "AUTHORIZATION_MISSING" if value == "" else "AUTHORIZATION_MALFORMED"
    assert_error(resp, 401, expected)


# ---- bindings and the cache ---------------------------------------------------------------------


async def test_tenant_a_token_with_tenant_b_key(
    client: httpx.AsyncClient, runtime: App, dev: Dev
) -> None:
    other = await create_dev(runtime)
    assert other.tenant_id != dev.tenant_id
    token_a = (await exchange(client, dev))["accessToken"]
    assert (await call(client, bearer(token_a, dev))).status_code == 200  # now cached
    assert_error(await call(client, bearer(token_a, other)), 401, "API_KEY_MISMATCH")


async def test_admin_client_id_is_refused(client: httpx.AsyncClient, dev: Dev) -> None:
    token = (await exchange(client, dev))["accessToken"]
    assert (await call(client, bearer(token, dev))).status_code == 200  # now cached
    resp = await call(client, bearer(token, dev, client_id="fluide-admin"))
    assert_error(resp, 401, "CLIENT_AUDIENCE_MISMATCH")


async def test_cached_token_respects_expiry(
    client: httpx.AsyncClient, runtime: App, dev: Dev, clock: FrozenClock
) -> None:
    headers = bearer((await exchange(client, dev))["accessToken"], dev)
    assert (await call(client, headers)).status_code == 200
    gateway = client._transport.app.state.gateway  # type: ignore[attr-defined]
    assert len(gateway.cache) == 1
    clock.advance(900)  # within the leeway: still accepted
    assert (await call(client, headers)).status_code == 200
    clock.advance(runtime.infra.settings.token_leeway_seconds)
    assert_error(await call(client, headers), 401, "TOKEN_EXPIRED")
    assert len(gateway.cache) == 0


async def test_rotation_without_grace_refuses_cached_tokens(
    client: httpx.AsyncClient, dev: Dev
) -> None:
    token = (await exchange(client, dev))["accessToken"]
    other_token = (await exchange(client, dev))["accessToken"]
    assert (await call(client, bearer(other_token, dev))).status_code == 200  # cached
    resp = await client.post(
        "/api/v1/authorize/rotate-secret", headers=bearer(token, dev), json={"graceSeconds": 0}
    )
    assert resp.status_code == 200, resp.text
    assert_error(await call(client, bearer(other_token, dev)), 401, "TOKEN_REVOKED")


async def test_rotation_with_grace_keeps_old_tokens(client: httpx.AsyncClient, dev: Dev) -> None:
    token = (await exchange(client, dev))["accessToken"]
    resp = await client.post(
        "/api/v1/authorize/rotate-secret", headers=bearer(token, dev), json={"graceSeconds": 60}
    )
    assert resp.status_code == 200
    assert (await call(client, bearer(token, dev))).status_code == 200


# ---- forged tokens ------------------------------------------------------------------------------


def _public_pem(rt: App) -> bytes:
    key = rt.identity.state.keyset.signing_key
    assert key is not None
    return key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def forge_alg_none(rt: App, dev: Dev) -> str:
    kid = rt.identity.state.keyset.signing_key.kid  # type: ignore[union-attr]
    return _segments({"alg": "none", "typ": "at+jwt", "kid": kid}, claims_for(rt, dev)) + "."


def forge_hs256_with_public_key(rt: App, dev: Dev) -> str:
    kid = rt.identity.state.keyset.signing_key.kid  # type: ignore[union-attr]
    signing_input = _segments({"alg": "HS256", "typ": "at+jwt", "kid": kid}, claims_for(rt, dev))
    sig = hmac.new(_public_pem(rt), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(sig)}"


def _foreign(kid: str) -> Callable[[App, Dev], str]:
    def forge(rt: App, dev: Dev) -> str:
        key = ec.generate_private_key(ec.SECP256R1())
        return pyjwt.encode(
            claims_for(rt, dev), key, algorithm="ES256", headers={"kid": kid, "typ": "at+jwt"}
        )

    return forge


def forge_foreign_key_real_kid(rt: App, dev: Dev) -> str:
    return _foreign(rt.identity.state.keyset.signing_key.kid)(rt, dev)  # type: ignore[union-attr]


def forge_tampered_payload(rt: App, dev: Dev) -> str:
    head, _, sig = mint(rt, claims_for(rt, dev)).split(".")
    evil = claims_for(rt, dev, scope="hr:read hr:write payroll:write", tenant_id="ten_other")
    return f"{head}.{_b64(json.dumps(evil).encode())}.{sig}"


def forge_nbf_future(rt: App, dev: Dev) -> str:
    now = int(rt.infra.clock().timestamp())
    return mint(rt, claims_for(rt, dev, nbf=now + 3600, iat=now + 3600, exp=now + 4500))


def forge_wrong_iss(rt: App, dev: Dev) -> str:
    return mint(rt, claims_for(rt, dev, iss="https://evil.example"))


def forge_missing_claim(rt: App, dev: Dev) -> str:
    claims = claims_for(rt, dev)
    del claims["gen"]
    return mint(rt, claims)


def forge_expired(rt: App, dev: Dev) -> str:
    now = int(rt.infra.clock().timestamp())
    return mint(rt, claims_for(rt, dev, iat=now - 2000, nbf=now - 2000, exp=now - 1000))


def forge_jku(rt: App, dev: Dev) -> str:
    key = rt.identity.state.keyset.signing_key
    assert key is not None
    return pyjwt.encode(
        claims_for(rt, dev),
        key.private_key,
        algorithm="ES256",
        headers={"kid": key.kid, "typ": "at+jwt", "jku": "https://evil.example/jwks"},
    )


FORGERIES: list[tuple[str, Callable[[App, Dev], str], str]] = [
    ("alg none", forge_alg_none, "TOKEN_INVALID"),
    ("HS256 signed with the public key PEM", forge_hs256_with_public_key, "TOKEN_INVALID"),
    ("unknown kid", _foreign("k-" + uuid.uuid4().hex), "TOKEN_INVALID"),
    ("kid path traversal", _foreign("../../etc/passwd"), "TOKEN_INVALID"),
    ("kid SQL injection", _foreign("' OR 1=1--"), "TOKEN_INVALID"),
    ("real kid, foreign key", forge_foreign_key_real_kid, "TOKEN_INVALID"),
    ("tampered payload", forge_tampered_payload, "TOKEN_INVALID"),
    ("nbf in the future", forge_nbf_future, "TOKEN_INVALID"),
    ("wrong iss", forge_wrong_iss, "TOKEN_INVALID"),
    ("missing claim", forge_missing_claim, "TOKEN_INVALID"),
    ("jku header", forge_jku, "TOKEN_INVALID"),
    ("expired", forge_expired, "TOKEN_EXPIRED"),
]


@pytest.mark.parametrize(("name", "forge", "code"), FORGERIES, ids=[f[0] for f in FORGERIES])
async def test_forged_tokens_are_refused(
    client: httpx.AsyncClient,
    runtime: App,
    dev: Dev,
    name: str,
    forge: Callable[[App, Dev], str],
    code: str,
) -> None:
    # The control: the same claims, honestly signed, pass.
    assert (
        await call(client, bearer(mint(runtime, claims_for(runtime, dev)), dev))
    ).status_code == 200
    resp = await call(client, bearer(forge(runtime, dev), dev))
    body = assert_error(resp, 401, code)
    assert "invalid_token" in resp.headers["www-authenticate"]
    assert "etc/passwd" not in resp.text and "OR 1=1" not in resp.text
    assert body["message"] in ("Access token is invalid", "Access token has expired")


async def test_a_removed_signing_key_empties_the_cache(
    client: httpx.AsyncClient, runtime: App, dev: Dev
) -> None:
    headers = bearer((await exchange(client, dev))["accessToken"], dev)
    assert (await call(client, headers)).status_code == 200
    gateway = client._transport.app.state.gateway  # type: ignore[attr-defined]
    assert len(gateway.cache) == 1
    # Simulate a key set without the token's key (its key was removed after rotations).
    from fluide.identity.keyring import KeySet

    runtime.identity.state.keyset = KeySet(signers=runtime.identity.state.keyset.signers)
    assert_error(await call(client, headers), 401, "TOKEN_INVALID")


# ---- checks 11 and 12 run in GuardedRoute.handle ------------------------------------------------


async def test_scope_is_checked_before_the_route_reads_its_body(
    client: httpx.AsyncClient, dev: Dev
) -> None:
    read_only = await row11(client, None, dev, None)  # type: ignore[arg-type]
    resp = await client.post(
        "/api/v1/hr/employees",
        content=b"{not json",
        headers={**read_only, "Content-Type": "application/json"},
    )
    body = assert_error(resp, 403, "INSUFFICIENT_SCOPE")
    assert "hr:write" in body["message"]
    assert resp.headers["www-authenticate"].startswith('Bearer error="insufficient_scope"')
    # With the scope, the same body gets as far as the route: a validation error.
    writer = bearer((await exchange(client, dev))["accessToken"], dev)
    resp = await client.post(
        "/api/v1/hr/employees",
        content=b"{not json",
        headers={**writer, "Content-Type": "application/json"},
    )
    assert_error(resp, 400, "VALIDATION_FAILED")


async def test_a_method_the_route_does_not_serve_spends_nothing(
    client: httpx.AsyncClient, dev: Dev
) -> None:
    headers = bearer((await exchange(client, dev))["accessToken"], dev)
    for _ in range(6):  # more than the module's 5/hour: a 405 is neither checked nor counted
        resp = await client.delete(HEALTH, headers=headers)
        assert resp.status_code == 405, resp.text
        assert "x-ratelimit-remaining" not in resp.headers
    resp = await call(client, headers)
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-ratelimit-remaining"] == "4"
