"""The guard with DPoP-bound tokens (RFC 9449 §7, issue 16), over the real app: a real client
(``DpopKey``: PyJWT + cryptography) gets a bound token at ``/oauth/token`` and calls a product
with ``Authorization: DPoP`` and a fresh proof; every failure is 401 ``DPOP_PROOF_INVALID``
(or ``TOKEN_INVALID`` for the wrong scheme) with a ``DPoP`` challenge, in the envelope; a jti
is refused the second time, in this process and in another one; unbound tokens are untouched.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from fluide.app import App, create_app
from fluide.identity import dpop
from fluide.kit.clock import FrozenClock
from fluide.settings import Settings
from tests.conftest import Dev, bearer, make_settings, redis_or_skip
from tests.identity.oauth.support import (
    TOKEN,
    DpopKey,
    basic,
    bound_token,
    dpop_headers,
    post_form,
)
from tests.products.helpers import employee

HEALTH = "/api/v1/hr/health"
EMPLOYEES = "/api/v1/hr/employees"


@pytest.fixture
def settings_overrides(backend: str) -> dict[str, Any]:
    # On PostgreSQL the jtis go through Redis (and a second app shares both); on SQLite through
    # the database.
    return {"redis_url": redis_or_skip()} if backend == "postgres" else {}


def url(rt: App, path: str) -> str:
    return rt.infra.settings.public_base_url + path


def _denied(resp: httpx.Response, code: str = "DPOP_PROOF_INVALID") -> None:
    assert resp.status_code == 401, resp.text
    body = resp.json()
    assert body["code"] == code and body["success"] is False and body["statusCode"] == 401
    error = "invalid_dpop_proof" if code == "DPOP_PROOF_INVALID" else "invalid_token"
    challenge = resp.headers["www-authenticate"]
    assert challenge.startswith(f'DPoP error="{error}"') and "ES256" in challenge


async def test_a_bound_token_works_with_a_fresh_proof_each_call(
    client: httpx.AsyncClient, runtime: App, dev: Dev, clock: FrozenClock
) -> None:
    key = DpopKey()
    token = await bound_token(client, runtime, dev, key)
    for path in (HEALTH, EMPLOYEES + "?page=1&limit=5"):
        proof = key.proof("GET", url(runtime, path), clock().timestamp(), token=token)
        resp = await client.get(path, headers=dpop_headers(token, proof, dev.api_key))
        assert resp.status_code == 200, resp.text
    proof = key.proof("POST", url(runtime, EMPLOYEES), clock().timestamp(), token=token)
    headers = dpop_headers(token, proof, dev.api_key)
    created = await client.post(EMPLOYEES, json=employee("D1", "1000.00"), headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["employeeCode"] == "D1"


def _failures(rt: App, key: DpopKey, token: str, other_token: str, now: float) -> dict[str, str]:
    good = url(rt, HEALTH)
    other = DpopKey()
    return {
        "wrong htm": key.proof("POST", good, now, token=token),
        "wrong htu": key.proof("GET", url(rt, "/api/v1/hr/employees"), now, token=token),
        "Host header URL": key.proof("GET", "http://testserver" + HEALTH, now, token=token),
        "old iat": key.proof("GET", good, now - dpop.IAT_WINDOW - 1, token=token),
        "future iat": key.proof("GET", good, now + dpop.IAT_WINDOW + 1, token=token),
        "wrong ath": key.proof("GET", good, now, token=token + "x"),
        "no ath": key.proof("GET", good, now),
        "proof for another token": key.proof("GET", good, now, token=other_token),
        "other key": other.proof("GET", good, now, token=token),
        "private key in jwk": key.proof(
            "GET", good, now, token=token, header={"jwk": {**key.jwk, "d": "AAAA"}}
        ),
        "alg none": key.proof("GET", good, now, token=token).rsplit(".", 1)[0] + ".",
        "typ": key.proof("GET", good, now, token=token, header={"typ": "JWT"}),
        "garbage": "garbage",
    }


async def test_every_failing_check_is_refused(
    client: httpx.AsyncClient, runtime: App, dev: Dev, clock: FrozenClock
) -> None:
    key = DpopKey()
    token = await bound_token(client, runtime, dev, key)
    other_token = await bound_token(client, runtime, dev, key)
    cases = _failures(runtime, key, token, other_token, clock().timestamp())
    for name, proof in cases.items():
        resp = await client.get(HEALTH, headers=dpop_headers(token, proof, dev.api_key))
        try:
            _denied(resp)
        except AssertionError as exc:
            raise AssertionError(name) from exc
    missing = dpop_headers(token, "", dev.api_key)
    del missing["DPoP"]
    _denied(await client.get(HEALTH, headers=missing))
    # Control: the token still works with a good proof.
    proof = key.proof("GET", url(runtime, HEALTH), clock().timestamp(), token=token)
    assert (await client.get(HEALTH, headers=dpop_headers(token, proof, dev.api_key))).is_success


async def test_the_scheme_must_fit_the_token(
    client: httpx.AsyncClient, runtime: App, dev: Dev, clock: FrozenClock
) -> None:
    key = DpopKey()
    token = await bound_token(client, runtime, dev, key)
    proof = key.proof("GET", url(runtime, HEALTH), clock().timestamp(), token=token)
    # A bound token as Bearer, with or without its proof (RFC 9449 §7.1).
    _denied(
        await client.get(HEALTH, headers={**bearer(token, dev), "DPoP": proof}), "TOKEN_INVALID"
    )
    _denied(await client.get(HEALTH, headers=bearer(token, dev)), "TOKEN_INVALID")
    # An unbound token as DPoP.
    plain = await post_form(
        client, TOKEN, {"grant_type": "client_credentials"}, basic(dev.api_key, dev.api_secret)
    )
    unbound = plain.json()["access_token"]
    proof = key.proof("GET", url(runtime, HEALTH), clock().timestamp(), token=unbound)
    _denied(
        await client.get(HEALTH, headers=dpop_headers(unbound, proof, dev.api_key)), "TOKEN_INVALID"
    )
    # Unbound tokens are untouched: Bearer, no proof needed, a stray DPoP header ignored.
    assert (await client.get(HEALTH, headers=bearer(unbound, dev))).status_code == 200
    stray = {**bearer(unbound, dev), "DPoP": "garbage"}
    assert (await client.get(HEALTH, headers=stray)).status_code == 200


async def test_a_replayed_proof_is_refused(
    client: httpx.AsyncClient, runtime: App, dev: Dev, clock: FrozenClock
) -> None:
    key = DpopKey()
    token = await bound_token(client, runtime, dev, key)
    proof = key.proof("GET", url(runtime, HEALTH), clock().timestamp(), token=token)
    headers = dpop_headers(token, proof, dev.api_key)
    assert (await client.get(HEALTH, headers=headers)).status_code == 200
    _denied(await client.get(HEALTH, headers=headers))
    # Still refused later within the window (the clock moved, the jti is remembered).
    clock.advance(dpop.IAT_WINDOW - 1)
    _denied(await client.get(HEALTH, headers=headers))


async def _second_app(settings: Settings, tmp_path: Path, clock: FrozenClock) -> App:
    other = make_settings(tmp_path / "b", settings.database_url, redis_url=settings.redis_url)
    await asyncio.to_thread((tmp_path / "b").mkdir)
    return create_app(other, clock)


async def test_a_proof_used_in_one_process_is_refused_in_another(
    client: httpx.AsyncClient,
    runtime: App,
    dev: Dev,
    clock: FrozenClock,
    settings: Settings,
    tmp_path: Path,
) -> None:
    """Two apps on one database (and one Redis on PostgreSQL): a jti used on either is
    refused on the other, both ways, at the token endpoint and on a product call."""
    key = DpopKey()
    token = await bound_token(client, runtime, dev, key)
    other = await _second_app(settings, tmp_path, clock)
    async with other.lifespan():
        transport = httpx.ASGITransport(app=other, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c2:
            for first, second in ((client, c2), (c2, client)):
                proof = key.proof("GET", url(runtime, HEALTH), clock().timestamp(), token=token)
                headers = dpop_headers(token, proof, dev.api_key)
                assert (await first.get(HEALTH, headers=headers)).status_code == 200
                _denied(await second.get(HEALTH, headers=headers))
            proof = key.proof("POST", url(runtime, TOKEN), clock().timestamp())
            form = {"grant_type": "client_credentials"}
            headers = {**basic(dev.api_key, dev.api_secret), "DPoP": proof}
            assert (await post_form(client, TOKEN, form, headers)).status_code == 200
            again = await post_form(c2, TOKEN, form, headers)
            assert again.json()["error"] == "invalid_dpop_proof"


async def test_routes_without_proof_checks_refuse_bound_tokens(
    client: httpx.AsyncClient, runtime: App, dev: Dev, clock: FrozenClock
) -> None:
    """The developer session and forward auth check no proof: a bound token is refused there
    in either scheme (fail closed), never accepted as a Bearer token."""
    key = DpopKey()
    token = await bound_token(client, runtime, dev, key)
    current = "/api/v1/authorize/current"
    proof = key.proof("GET", url(runtime, current), clock().timestamp(), token=token)
    _denied(await client.get(current, headers=bearer(token, dev)), "TOKEN_INVALID")
    resp = await client.get(current, headers=dpop_headers(token, proof, dev.api_key))
    assert resp.status_code == 401 and resp.json()["code"] == "AUTHORIZATION_MALFORMED"
    decide = {**bearer(token, dev), "X-Original-Method": "GET", "X-Original-URI": HEALTH}
    resp = await client.get("/api/v1/gateway/decide", headers=decide)
    _denied(resp, "TOKEN_INVALID")
    assert "does not accept DPoP-bound tokens" in resp.json()["message"]


# ---- property: the guard lets a bound token's call through exactly when every check passes --

FAULTS = ("htm", "htu", "iat", "ath", "key", "scheme", "replay", "missing")


@pytest.fixture
async def bound(client: httpx.AsyncClient, runtime: App, dev: Dev) -> tuple[DpopKey, str]:
    key = DpopKey()
    return key, await bound_token(client, runtime, dev, key)


@examples(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(faults=st.frozensets(st.sampled_from(FAULTS), max_size=3), skew=st.integers(-50, 50))
async def test_the_guard_accepts_exactly_when_every_check_passes(
    client: httpx.AsyncClient,
    runtime: App,
    dev: Dev,
    clock: FrozenClock,
    bound: tuple[DpopKey, str],
    faults: frozenset[str],
    skew: int,
) -> None:
    key, token = bound
    now = clock().timestamp()
    jti = uuid.uuid4().hex
    if "replay" in faults:  # the jti was used by a good call first
        used = key.proof("GET", url(runtime, HEALTH), now, token=token, jti=jti)
        assert (await client.get(HEALTH, headers=dpop_headers(token, used, dev.api_key))).is_success
    signer = DpopKey() if "key" in faults else key
    iat = (
        now + (dpop.IAT_WINDOW + 1 + abs(skew)) * (1 if skew >= 0 else -1)
        if "iat" in faults
        else now + skew
    )
    proof = signer.proof(
        "DELETE" if "htm" in faults else "GET",
        url(runtime, HEALTH + ("/x" if "htu" in faults else "")),
        iat,
        token=token + ("x" if "ath" in faults else ""),
        jti=jti,
    )
    headers = dpop_headers(token, proof, dev.api_key)
    if "scheme" in faults:
        headers["Authorization"] = f"Bearer {token}"
    if "missing" in faults:
        del headers["DPoP"]
    resp = await client.get(HEALTH, headers=headers)
    if faults:
        assert resp.status_code == 401, (faults, resp.text)
        assert resp.json()["code"] in ("DPOP_PROOF_INVALID", "TOKEN_INVALID")
    else:
        assert resp.status_code == 200, resp.text
