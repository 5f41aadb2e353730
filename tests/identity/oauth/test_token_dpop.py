"""``POST /oauth/token`` with a ``DPoP`` proof (RFC 9449 §5, issue 16): a real client's proof
binds the token to its key (``cnf.jkt``, ``token_type: DPoP``); every bad proof is 400
``invalid_dpop_proof`` and issues nothing; no proof, no change. SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from fluide.app import App
from fluide.identity import dpop
from fluide.identity.models import IssuedToken
from fluide.kit.clock import FrozenClock
from tests.conftest import Dev
from tests.identity.oauth.support import (
    INTROSPECT,
    TOKEN,
    DpopKey,
    basic,
    error_of,
    post_form,
    wrong_secret,
)
from tests.identity.oauth.test_token import claims_of

GRANT = {"grant_type": "client_credentials"}


def token_url(rt: App) -> str:
    return rt.infra.settings.public_base_url + TOKEN


async def dpop_token(
    client: httpx.AsyncClient, rt: App, dev: Dev, key: DpopKey, clock: FrozenClock, **kw: Any
) -> httpx.Response:
    proof = key.proof("POST", token_url(rt), clock().timestamp(), **kw)
    headers = {**basic(dev.api_key, dev.api_secret), "DPoP": proof}
    return await post_form(client, TOKEN, GRANT, headers)


async def _issued(rt: App) -> int:
    async with rt.infra.sessionmaker() as session:
        return int(
            (await session.execute(select(func.count()).select_from(IssuedToken))).scalar_one()
        )


@pytest.mark.parametrize("alg", dpop.SIGNING_ALGS)
async def test_a_proof_binds_the_token_to_its_key(
    client: httpx.AsyncClient, runtime: App, dev: Dev, clock: FrozenClock, alg: str
) -> None:
    key = DpopKey(alg)
    resp = await dpop_token(client, runtime, dev, key, clock)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["token_type"] == "DPoP"
    assert resp.headers["cache-control"] == "no-store"
    claims = claims_of(runtime, body["access_token"])  # PyJWT, our JWKS, issuer, audience
    assert claims["cnf"] == {"jkt": key.thumbprint}  # joserfc's RFC 7638 thumbprint
    # Introspection says so too (RFC 9449 §6.2).
    seen = await post_form(
        client, INTROSPECT, {"token": body["access_token"]}, basic(dev.api_key, dev.api_secret)
    )
    assert seen.json()["cnf"] == {"jkt": key.thumbprint}
    assert seen.json()["token_type"] == "DPoP"


async def test_without_a_proof_nothing_changes(
    client: httpx.AsyncClient, runtime: App, dev: Dev
) -> None:
    resp = await post_form(client, TOKEN, GRANT, basic(dev.api_key, dev.api_secret))
    assert resp.json()["token_type"] == "Bearer"
    assert "cnf" not in claims_of(runtime, resp.json()["access_token"])


def _bad_proofs(rt: App, key: DpopKey, now: float) -> dict[str, str]:
    url = token_url(rt)
    other_host = "http://testserver" + TOKEN  # the Host the client used is not our URL
    return {
        "wrong htm": key.proof("GET", url, now),
        "wrong htu": key.proof("POST", url + "x", now),
        "Host header URL": key.proof("POST", other_host, now),
        "old iat": key.proof("POST", url, now - dpop.IAT_WINDOW - 5),
        "future iat": key.proof("POST", url, now + dpop.IAT_WINDOW + 5),
        "typ": key.proof("POST", url, now, header={"typ": "JWT"}),
        "alg none": key.proof("POST", url, now).rsplit(".", 2)[0] + ".e30.",
        "garbage": "not-a-proof",
        "empty": " ",
    }


async def test_every_bad_proof_is_invalid_dpop_proof_and_issues_nothing(
    client: httpx.AsyncClient, runtime: App, dev: Dev, clock: FrozenClock
) -> None:
    key = DpopKey()
    before = await _issued(runtime)
    for name, proof in _bad_proofs(runtime, key, clock().timestamp()).items():
        headers = {**basic(dev.api_key, dev.api_secret), "DPoP": proof}
        resp = await post_form(client, TOKEN, GRANT, headers)
        assert error_of(resp) == (400, "invalid_dpop_proof"), name
    assert await _issued(runtime) == before


async def test_a_replayed_proof_is_refused(
    client: httpx.AsyncClient, runtime: App, dev: Dev, clock: FrozenClock
) -> None:
    key = DpopKey()
    proof = key.proof("POST", token_url(runtime), clock().timestamp())
    headers = {**basic(dev.api_key, dev.api_secret), "DPoP": proof}
    assert (await post_form(client, TOKEN, GRANT, headers)).status_code == 200
    again = await post_form(client, TOKEN, GRANT, headers)
    assert error_of(again) == (400, "invalid_dpop_proof")
    # The same jti by another key is that key's own first use.
    other = DpopKey().proof("POST", token_url(runtime), clock().timestamp(), jti=_jti(proof))
    headers["DPoP"] = other
    assert (await post_form(client, TOKEN, GRANT, headers)).status_code == 200


def _jti(proof: str) -> str:
    import jwt as pyjwt

    return str(pyjwt.decode(proof, options={"verify_signature": False})["jti"])


async def test_a_proof_over_the_documented_length_is_invalid_not_431(
    client: httpx.AsyncClient, dev: Dev
) -> None:
    """The OpenAPI document says ``maxLength`` MAX_PROOF; one character more is OAuth's 400
    (schemathesis' negative data found a 431 the operation did not document)."""
    from fluide.identity.dpop import MAX_PROOF

    headers = {**basic(dev.api_key, dev.api_secret), "DPoP": "E" * (MAX_PROOF + 1)}
    resp = await post_form(client, TOKEN, GRANT, headers)
    assert error_of(resp) == (400, "invalid_dpop_proof")


async def test_two_dpop_headers_are_refused(
    client: httpx.AsyncClient, runtime: App, dev: Dev, clock: FrozenClock
) -> None:
    key, now = DpopKey(), clock().timestamp()
    raw = [
        *basic(dev.api_key, dev.api_secret).items(),
        ("DPoP", key.proof("POST", token_url(runtime), now)),
        ("DPoP", key.proof("POST", token_url(runtime), now)),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ]
    resp = await client.post(TOKEN, content=b"grant_type=client_credentials", headers=raw)
    assert error_of(resp) == (400, "invalid_dpop_proof")


async def test_the_proof_is_checked_before_the_secret(
    client: httpx.AsyncClient, runtime: App, dev: Dev, clock: FrozenClock
) -> None:
    """The proof is checked first: a bad one answers ``invalid_dpop_proof`` whatever the
    secret, and a good one with a wrong secret is still ``invalid_client``."""
    key, now = DpopKey(), clock().timestamp()
    wrong = basic(dev.api_key, wrong_secret(dev.api_secret))
    bad = await post_form(client, TOKEN, GRANT, {**wrong, "DPoP": "x.y.z"})
    assert error_of(bad) == (400, "invalid_dpop_proof")
    good = key.proof("POST", token_url(runtime), now)
    assert error_of(await post_form(client, TOKEN, GRANT, {**wrong, "DPoP": good}))[1] == (
        "invalid_client"
    )


async def test_metadata_advertises_the_algorithms(client: httpx.AsyncClient) -> None:
    meta = (await client.get("/.well-known/oauth-authorization-server")).json()
    assert meta["dpop_signing_alg_values_supported"] == ["ES256", "EdDSA", "RS256", "PS256"]
