"""Helpers for the OAuth tests: token requests as an OAuth client sends them."""

from __future__ import annotations

import base64
import hashlib
import uuid
from typing import Any
from urllib.parse import quote

import httpx
import jwt as pyjwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc.jwk import JWKRegistry
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

TOKEN = "/oauth/token"
INTROSPECT = "/oauth/introspect"
REVOKE = "/oauth/revoke"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def wrong_secret(secret: str) -> str:
    """``secret`` with its last character changed: never the secret itself (a fixed
    replacement character equals the last one now and then, and the "wrong" secret works)."""
    return secret[:-1] + ("y" if secret.endswith("x") else "x")


def basic(client_id: str, secret: str) -> dict[str, str]:
    """RFC 6749 §2.3.1: each part form-urlencoded, then Basic."""
    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


async def post_form(
    client: httpx.AsyncClient,
    path: str,
    data: dict[str, str],
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return await client.post(path, data=data, headers=headers or {})


async def oauth_token(
    client: httpx.AsyncClient,
    api_key: str,
    secret: str,
    *,
    method: str = "client_secret_basic",
    scope: str | None = None,
) -> httpx.Response:
    data: dict[str, str] = {"grant_type": "client_credentials"}
    if scope is not None:
        data["scope"] = scope
    if method == "client_secret_basic":
        return await post_form(client, TOKEN, data, basic(api_key, secret))
    return await post_form(client, TOKEN, {**data, "client_id": api_key, "client_secret": secret})


def error_of(resp: httpx.Response) -> tuple[int, str]:
    """(status, RFC 6749 §5.2 ``error``), checking the body has exactly the §5.2 members."""
    body: dict[str, Any] = resp.json()
    assert set(body) == {"error", "error_description"}, body
    assert resp.headers["cache-control"] == "no-store"
    if resp.status_code == 401:
        assert resp.headers["www-authenticate"].startswith("Basic ")
    return resp.status_code, str(body["error"])


# ---- DPoP (RFC 9449): a client's key and the proofs it makes, with PyJWT + cryptography ------


class DpopKey:
    """A client's DPoP key pair; ``proof`` signs a proof the way a client library would."""

    def __init__(self, alg: str = "ES256") -> None:
        self.alg = alg
        self.private: Any
        if alg == "ES256":
            self.private = ec.generate_private_key(ec.SECP256R1())
            self.jwk = ECAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        elif alg == "EdDSA":
            self.private = ed25519.Ed25519PrivateKey.generate()
            self.jwk = OKPAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        else:
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.jwk = RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)

    @property
    def thumbprint(self) -> str:
        """RFC 7638, computed by joserfc (not by the code under test)."""
        return str(JWKRegistry.import_key(self.jwk).thumbprint())

    def proof(
        self,
        method: str,
        url: str,
        now: float,
        *,
        token: str | None = None,
        jti: str | None = None,
        claims: dict[str, Any] | None = None,
        header: dict[str, Any] | None = None,
    ) -> str:
        body: dict[str, Any] = {
            "jti": jti or uuid.uuid4().hex,
            "htm": method,
            "htu": url,
            "iat": int(now),
        }
        if token is not None:
            body["ath"] = (
                base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest())
                .rstrip(b"=")
                .decode()
            )
        body.update(claims or {})
        headers = {"typ": "dpop+jwt", "jwk": self.jwk, **(header or {})}
        return pyjwt.encode(body, self.private, algorithm=self.alg, headers=headers)


def dpop_headers(
    token: str, proof: str, dev_key: str, client_id: str = "fluide-developer"
) -> dict[str, str]:
    """A product call with a DPoP-bound token."""
    return {
        "Authorization": f"DPoP {token}",
        "DPoP": proof,
        "X-Fluide-Api-Key": dev_key,
        "X-Fluide-Client-Id": client_id,
    }


async def bound_token(client: httpx.AsyncClient, rt: Any, dev: Any, key: DpopKey) -> str:
    """A DPoP-bound token for ``dev``'s key, from ``/oauth/token`` with a proof made by
    ``key`` (``rt``: the app, whose clock and public URL the proof uses)."""
    now = rt.infra.clock().timestamp()
    proof = key.proof("POST", rt.infra.settings.public_base_url + TOKEN, now)
    headers = {**basic(dev.api_key, dev.api_secret), "DPoP": proof}
    resp = await post_form(client, TOKEN, {"grant_type": "client_credentials"}, headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["token_type"] == "DPoP"
    return str(resp.json()["access_token"])
