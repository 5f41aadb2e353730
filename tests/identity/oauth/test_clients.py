"""Unmodified OAuth 2.0 clients against the real service on a real 127.0.0.1 socket (uvicorn):
Authlib (``OAuth2Client`` and ``AsyncOAuth2Client``, both client authentication methods) and
requests-oauthlib (``BackendApplicationClient``) get tokens from the endpoints the RFC 8414
metadata names; the tokens verify offline with PyJWT's ``PyJWKClient`` and with joserfc against
the published JWKS, our issuer and our audience; introspection and revocation round-trip; and a
second process on the same PostgreSQL + Redis refuses a revoked token within a second."""

from __future__ import annotations

import asyncio
import os
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt as pyjwt
import pytest
import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet
from oauthlib.oauth2 import BackendApplicationClient
from requests_oauthlib import OAuth2Session

from fluide.app import create_app
from fluide.settings import Settings
from tests.client.support import LiveServer, live_server
from tests.conftest import CLIENT_ID, REDIS_URL, Dev, create_dev, make_settings, redis_or_skip
from tests.gateway.test_multiprocess import serve

with warnings.catch_warnings():
    # Authlib 1.9 announces a move of its httpx integration to "httpx2"; the clients are the
    # ones its users have today.
    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuth2Client

AUDIENCE = "https://api.fluide.test"


@pytest.fixture
def server(settings: Settings) -> Iterator[LiveServer]:
    settings.audience = AUDIENCE
    with live_server(settings) as live:
        # Absolute URLs in the metadata name this server (FLUIDE_BASE_URL, read per request).
        live.runtime.infra.settings.base_url = live.base_url
        yield live


@pytest.fixture
def metadata(server: LiveServer) -> dict[str, Any]:
    resp = requests.get(f"{server.base_url}/.well-known/oauth-authorization-server", timeout=10)
    assert resp.status_code == 200
    doc: dict[str, Any] = resp.json()
    return doc


@pytest.fixture
def developer(server: LiveServer) -> Dev:
    return server.run(create_dev(server.runtime))


def verify_with_pyjwt(server: LiveServer, metadata: dict[str, Any], token: str) -> dict[str, Any]:
    jwks = pyjwt.PyJWKClient(metadata["jwks_uri"])
    key = jwks.get_signing_key_from_jwt(token)
    claims: dict[str, Any] = pyjwt.decode(
        token,
        key.key,
        algorithms=["ES256", "RS256", "EdDSA"],
        issuer=metadata["issuer"],
        audience=AUDIENCE,
        options={"require": ["exp", "iat", "iss", "aud", "sub", "jti", "client_id"]},
    )
    return claims


def verify_with_joserfc(metadata: dict[str, Any], token: str) -> dict[str, Any]:
    resp = requests.get(metadata["jwks_uri"], timeout=10)
    assert resp.headers["content-type"] == "application/jwk-set+json"
    keys = KeySet.import_key_set(resp.json())
    decoded = jose_jwt.decode(token, keys, algorithms=["ES256", "RS256", "EdDSA"])
    assert decoded.header["typ"] == "at+jwt"
    registry = jose_jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": metadata["issuer"]},
        aud={"essential": True, "value": AUDIENCE},
        exp={"essential": True},
        client_id={"essential": True},
    )
    registry.validate(decoded.claims)
    return dict(decoded.claims)


def product_status(server: LiveServer, dev: Dev, token: str) -> int:
    headers = {
        "Authorization": f"Bearer {token}",
        "X-Fluide-Api-Key": dev.api_key,
        "X-Fluide-Client-Id": CLIENT_ID,
    }
    return requests.get(
        f"{server.base_url}/api/v1/hr/health", headers=headers, timeout=10
    ).status_code


@pytest.mark.parametrize("client_class", [OAuth2Client, AuthlibSession])
@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_authlib_gets_a_token_that_verifies_offline_and_works(
    server: LiveServer, metadata: dict[str, Any], developer: Dev, method: str, client_class: Any
) -> None:
    with client_class(
        developer.api_key,
        developer.api_secret,
        token_endpoint_auth_method=method,
        scope="hr:read payroll:read",
    ) as session:
        token = session.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
        assert token["token_type"] == "Bearer" and token["scope"] == "hr:read payroll:read"
        assert token["expires_at"] > time.time() + 800
        access = token["access_token"]
        claims = verify_with_pyjwt(server, metadata, access)
        assert claims["client_id"] == developer.api_key and claims["aud"] == AUDIENCE
        assert verify_with_joserfc(metadata, access)["jti"] == claims["jti"]
        assert product_status(server, developer, access) == 200
        # Introspection and revocation with Authlib's own helpers, then the token is dead.
        info = session.introspect_token(metadata["introspection_endpoint"], token=access)
        assert info.status_code == 200 and info.json()["active"] is True
        assert info.json()["scope"] == "hr:read payroll:read"
        revoked = session.revoke_token(metadata["revocation_endpoint"], token=access)
        assert revoked.status_code == 200
        info = session.introspect_token(metadata["introspection_endpoint"], token=access)
        assert info.json() == {"active": False}
    assert product_status(server, developer, access) == 401


def test_authlib_reports_a_wrong_secret_as_an_oauth_error(
    server: LiveServer, metadata: dict[str, Any], developer: Dev
) -> None:
    with (
        OAuth2Client(developer.api_key, "fl_sk_wrong") as session,
        pytest.raises(OAuthError) as caught,
    ):
        session.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
    assert caught.value.error == "invalid_client"


def test_authlib_async_client(server: LiveServer, metadata: dict[str, Any], developer: Dev) -> None:
    async def fetch() -> dict[str, Any]:
        async with AsyncOAuth2Client(developer.api_key, developer.api_secret) as client:
            token: dict[str, Any] = await client.fetch_token(
                metadata["token_endpoint"], grant_type="client_credentials"
            )
            return token

    token = asyncio.run(fetch())
    assert verify_with_pyjwt(server, metadata, token["access_token"])["sub"]


@pytest.mark.parametrize("include_client_id", [False, True])
def test_requests_oauthlib_backend_application_client(
    server: LiveServer,
    metadata: dict[str, Any],
    developer: Dev,
    include_client_id: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # oauthlib refuses plain http unless told the transport is local (as here: 127.0.0.1).
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    client = BackendApplicationClient(client_id=developer.api_key, scope=["hr:read"])
    with OAuth2Session(client=client) as session:
        token = session.fetch_token(
            token_url=metadata["token_endpoint"],
            client_id=developer.api_key,
            client_secret=developer.api_secret,
            include_client_id=include_client_id,
        )
        assert token["scope"] == ["hr:read"]
        claims = verify_with_joserfc(metadata, token["access_token"])
        assert claims["scope"] == "hr:read"
        # The session sends the token itself; the guard's headers go alongside.
        resp = session.get(
            f"{server.base_url}/api/v1/hr/health",
            headers={"X-Fluide-Api-Key": developer.api_key, "X-Fluide-Client-Id": CLIENT_ID},
            timeout=10,
        )
        assert resp.status_code == 200


def test_requests_oauthlib_raises_on_a_wrong_secret(
    server: LiveServer,
    metadata: dict[str, Any],
    developer: Dev,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    from oauthlib.oauth2.rfc6749.errors import InvalidClientError

    client = BackendApplicationClient(client_id=developer.api_key)
    with OAuth2Session(client=client) as session, pytest.raises(InvalidClientError):
        session.fetch_token(
            token_url=metadata["token_endpoint"],
            client_id=developer.api_key,
            client_secret="fl_sk_wrong",
        )


@pytest.mark.slow
@pytest.mark.postgres
def test_a_revocation_reaches_a_second_process_within_a_second(
    pg_database: str, tmp_path: Path
) -> None:
    redis_or_skip()
    settings = make_settings(tmp_path, pg_database)
    env = {
        **os.environ,
        "FLUIDE_DATABASE_URL": pg_database,
        "FLUIDE_PEPPER": settings.pepper.get_secret_value(),  # type: ignore[union-attr]
        "FLUIDE_KEY_ENCRYPTION_KEY": settings.key_encryption_key.get_secret_value(),  # type: ignore[union-attr]
        "FLUIDE_LOG_LEVEL": "WARNING",
        "FLUIDE_REDIS_URL": REDIS_URL or "",
        "FLUIDE_AUDIENCE": AUDIENCE,
    }

    async def prepare() -> Dev:
        from tests.conftest import truncate_pg

        await truncate_pg(pg_database)
        rt = create_app(make_settings(tmp_path / "setup", pg_database))
        async with rt.lifespan():
            return await create_dev(rt)

    dev = asyncio.run(prepare())
    with serve(env, tmp_path / "a") as a, serve(env, tmp_path / "b") as b:
        auth = (dev.api_key, dev.api_secret)
        form = {"grant_type": "client_credentials"}
        token = httpx.post(f"{a}/oauth/token", data=form, auth=auth, timeout=10).json()
        access = token["access_token"]
        headers = {
            "Authorization": f"Bearer {access}",
            "X-Fluide-Api-Key": dev.api_key,
            "X-Fluide-Client-Id": CLIENT_ID,
        }
        assert httpx.get(f"{b}/api/v1/hr/health", headers=headers, timeout=10).status_code == 200
        resp = httpx.post(f"{a}/oauth/revoke", data={"token": access}, auth=auth, timeout=10)
        assert resp.status_code == 200
        revoked = time.monotonic()
        refused_after = None
        with httpx.Client(timeout=5) as http:
            while time.monotonic() - revoked < 5:
                resp = http.get(f"{b}/api/v1/hr/health", headers=headers)
                if resp.status_code == 401:
                    assert resp.json()["code"] == "TOKEN_REVOKED"
                    refused_after = time.monotonic() - revoked
                    break
                time.sleep(0.02)
        assert refused_after is not None and refused_after < 1.0, refused_after
        intro = httpx.post(f"{b}/oauth/introspect", data={"token": access}, auth=auth, timeout=10)
        assert intro.json() == {"active": False}
