"""Tokens verify with an independent JOSE library (joserfc) against the served JWKS."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.conftest import Dev, exchange

DESIGN_CLAIMS = {
    "iss",
    "sub",
    "iat",
    "nbf",
    "exp",
    "jti",
    "tenant_id",
    "fluide_client_id",
    "api_key",
    "scope",
    "gen",
}


async def _verify_with_joserfc(client: httpx.AsyncClient, token: str, alg: str) -> jwt.Token:
    jwks = (await client.get("/.well-known/jwks.json")).json()
    decoded = jwt.decode(token, KeySet.import_key_set(jwks), algorithms=[alg])
    jwt.JWTClaimsRegistry(
        leeway=5,
        iss={"essential": True, "value": "https://connect.fluide.local"},
        exp={"essential": True},
        nbf={"essential": True},
        jti={"essential": True},
    ).validate(decoded.claims)
    return decoded


async def test_served_jwks_verifies_a_token_and_it_carries_the_design_claims(
    client: httpx.AsyncClient, dev: Dev
) -> None:
    body = await exchange(client, dev)
    decoded = await _verify_with_joserfc(client, body["accessToken"], "ES256")
    assert set(decoded.claims) >= DESIGN_CLAIMS
    claims = decoded.claims
    assert decoded.header["typ"] == "at+jwt"
    assert decoded.header["kid"]
    assert claims["sub"] == dev.credential_id
    assert claims["tenant_id"] == dev.tenant_id
    assert claims["api_key"] == dev.api_key
    assert claims["fluide_client_id"] == "fluide-developer"
    assert claims["jti"] == body["jti"]
    assert claims["exp"] - claims["iat"] == 900


async def test_jwks_served_at_both_paths_without_private_material(
    client: httpx.AsyncClient,
) -> None:
    a = await client.get("/.well-known/jwks.json")
    b = await client.get("/api/v1/auth/.well-known/jwks.json")
    assert a.status_code == b.status_code == 200
    assert a.json() == b.json()
    keys: list[dict[str, Any]] = a.json()["keys"]
    assert len(keys) == 2  # the active key and the published next key
    for key in keys:
        assert {"kid", "alg", "use", "kty"} <= set(key)
        assert "d" not in key and "p" not in key and "q" not in key


# joserfc warns that RFC 9864 deprecates the name "EdDSA" (in favour of "Ed25519"); DESIGN §4
# names EdDSA, so that is what we sign with.
@pytest.mark.filterwarnings("ignore:EdDSA is deprecated")
@pytest.mark.parametrize(
    ("alg", "settings_overrides"),
    [("RS256", {"signing_alg": "RS256"}), ("EdDSA", {"signing_alg": "EdDSA"})],
)
async def test_other_algorithms_are_selectable(
    client: httpx.AsyncClient, dev: Dev, alg: str, settings_overrides: dict[str, Any]
) -> None:
    body = await exchange(client, dev)
    decoded = await _verify_with_joserfc(client, body["accessToken"], alg)
    assert decoded.header["alg"] == alg
    resp = await client.get(
        "/api/v1/authorize/current",
        headers={
            "Authorization": f"Bearer {body['accessToken']}",
            "X-Fluide-Client-Id": "fluide-developer",
        },
    )
    assert resp.status_code == 200
