"""Check 1: a secret on any route but the exchange is refused; a live one flags its credential."""

from __future__ import annotations

import logging

import httpx
import pytest
from sqlalchemy import select

from fluide.app import App
from fluide.gateway.limiter import ProductLimiter
from fluide.gateway.routes import EXCHANGE_PATHS
from fluide.identity import formats
from fluide.identity.exchange.lane import _EXCHANGE_ROUTES
from fluide.identity.models import AuditEvent, Credential
from tests.conftest import CLIENT_ID, Dev, bearer, create_dev, exchange

HEALTH = "/api/v1/hr/health"


async def _credential(rt: App, dev: Dev) -> Credential:
    async with rt.infra.sessionmaker() as session:
        cred = await session.get(Credential, dev.credential_id)
        assert cred is not None
        return cred


async def _exposure_events(rt: App, dev: Dev) -> list[AuditEvent]:
    async with rt.infra.sessionmaker() as session:
        rows = await session.scalars(
            select(AuditEvent).where(
                AuditEvent.credential_id == dev.credential_id,
                AuditEvent.action == "credential.secret_exposed",
            )
        )
        return list(rows.all())


async def _current(client: httpx.AsyncClient, dev: Dev) -> dict[str, object]:
    token = (await exchange(client, dev))["accessToken"]
    resp = await client.get("/api/v1/authorize/current", headers=bearer(token, dev))
    assert resp.status_code == 200
    body: dict[str, object] = resp.json()
    return body


async def test_live_secret_with_the_key_flags_and_audits(
    client: httpx.AsyncClient, runtime: App, dev: Dev, caplog: pytest.LogCaptureFixture
) -> None:
    assert (await _current(client, dev))["secretExposedAt"] is None
    caplog.set_level(logging.DEBUG)
    headers = {"X-Fluide-Api-Key": dev.api_key, "X-Fluide-Api-Secret": dev.api_secret}
    resp = await client.get(HEALTH, headers=headers)
    assert resp.status_code == 400
    assert resp.json()["code"] == "API_SECRET_NOT_ALLOWED"
    assert dev.api_secret not in resp.text
    assert dev.api_secret not in caplog.text
    assert (await _credential(runtime, dev)).secret_exposed_at is not None
    assert (await _current(client, dev))["secretExposedAt"] is not None
    events = await _exposure_events(runtime, dev)
    assert len(events) == 1
    assert dev.api_secret not in str(events[0].details)
    assert events[0].tenant_id == dev.tenant_id
    # Flagged once: the same leak again adds no second row.
    assert (await client.get(HEALTH, headers=headers)).status_code == 400
    assert len(await _exposure_events(runtime, dev)) == 1


async def test_live_secret_with_only_the_token_flags(
    client: httpx.AsyncClient, runtime: App, dev: Dev
) -> None:
    token = (await exchange(client, dev))["accessToken"]
    headers = {"Authorization": f"Bearer {token}", "X-Fluide-Client-Id": CLIENT_ID}
    resp = await client.get(HEALTH, headers={**headers, "X-Fluide-Api-Secret": dev.api_secret})
    assert resp.json()["code"] == "API_SECRET_NOT_ALLOWED"
    assert (await _credential(runtime, dev)).secret_exposed_at is not None


async def test_previous_secret_in_grace_flags(
    client: httpx.AsyncClient, runtime: App, dev: Dev
) -> None:
    token = (await exchange(client, dev))["accessToken"]
    resp = await client.post(
        "/api/v1/authorize/rotate-secret", headers=bearer(token, dev), json={"graceSeconds": 600}
    )
    assert resp.status_code == 200
    headers = {"X-Fluide-Api-Key": dev.api_key, "X-Fluide-Api-Secret": dev.api_secret}
    assert (await client.get(HEALTH, headers=headers)).status_code == 400
    assert len(await _exposure_events(runtime, dev)) == 1


@pytest.mark.parametrize("which", ["wrong", "dead previous", "other key"])
async def test_a_secret_that_is_not_live_for_that_key_flags_nothing(
    client: httpx.AsyncClient, runtime: App, dev: Dev, which: str
) -> None:
    key, secret = dev.api_key, "fl_sk_notarealsecret"
    if which == "dead previous":
        token = (await exchange(client, dev))["accessToken"]
        await client.post(
            "/api/v1/authorize/rotate-secret", headers=bearer(token, dev), json={"graceSeconds": 0}
        )
        secret = dev.api_secret
    if which == "other key":
        other = await create_dev(runtime)
        key, secret = other.api_key, dev.api_secret
    resp = await client.get(
        HEALTH, headers={"X-Fluide-Api-Key": key, "X-Fluide-Api-Secret": secret}
    )
    assert resp.status_code == 400
    assert resp.json()["code"] == "API_SECRET_NOT_ALLOWED"
    assert (await _credential(runtime, dev)).secret_exposed_at is None
    assert await _exposure_events(runtime, dev) == []


async def test_exposure_checks_are_budgeted_per_source_address(
    client: httpx.AsyncClient, runtime: App, dev: Dev
) -> None:
    gateway = client._transport.app.state.gateway  # type: ignore[attr-defined]
    gateway.exposure_limiter = ProductLimiter("3/hour")  # an hour window: no boundary mid-test
    for _ in range(3):  # spend the address's budget on fakes
        fake = {
            "X-Fluide-Api-Key": formats.new_api_key(),
            "X-Fluide-Api-Secret": formats.new_api_secret(),
        }
        assert (await client.get(HEALTH, headers=fake)).status_code == 400
    headers = {"X-Fluide-Api-Key": dev.api_key, "X-Fluide-Api-Secret": dev.api_secret}
    assert (await client.get(HEALTH, headers=headers)).status_code == 400
    assert (await _credential(runtime, dev)).secret_exposed_at is None  # not checked this time


# ---- check 1 on every route but the exchange (DESIGN §3.5) ------------------------------------


def test_the_exchange_paths_are_the_exchange_routes() -> None:
    # The middleware lets the secret through on these paths only; they must be the exchange.
    assert set(_EXCHANGE_ROUTES) == EXCHANGE_PATHS


# (method, path) outside the products: developer session, auth context, accounts, dashboard,
# public routes, the docs, an unknown path, and the exchange's path with another method.
OUTSIDE = [
    ("GET", "/api/v1/authorize/current"),
    ("POST", "/api/v1/authorize/rotate-secret"),
    ("POST", "/api/v1/authorize/revoke"),
    ("GET", "/api/v1/auth-context/tok_x"),
    ("GET", "/api/v1/developer-access/current"),
    ("POST", "/api/v1/auth/signup"),
    ("POST", "/api/v1/auth/signin"),
    ("GET", "/api/v1/auth/me"),
    ("GET", "/api/v1/auth/credentials"),
    ("GET", "/connect/keys"),
    ("POST", "/connect/signin"),
    ("GET", "/api/v1"),
    ("GET", "/api/v1/health"),
    ("GET", "/.well-known/jwks.json"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/livez"),
    ("GET", "/nope"),
    ("GET", "/api/v1/authorize/token"),
    ("PUT", "/api/v1/developer-access/token"),
]


@pytest.mark.parametrize(("method", "path"), OUTSIDE)
async def test_a_secret_outside_the_exchange_is_refused_and_flagged(
    client: httpx.AsyncClient, runtime: App, dev: Dev, method: str, path: str
) -> None:
    headers = {"X-Fluide-Api-Key": dev.api_key, "X-Fluide-Api-Secret": dev.api_secret}
    resp = await client.request(method, path, headers=headers)
    assert resp.status_code == 400, resp.text
    assert resp.json()["code"] == "API_SECRET_NOT_ALLOWED"
    assert resp.headers["cache-control"] == "no-store"
    assert dev.api_secret not in resp.text
    assert (await _credential(runtime, dev)).secret_exposed_at is not None
    [event] = await _exposure_events(runtime, dev)
    assert event.details["path"] == path and dev.api_secret not in str(event.details)


async def test_a_secret_outside_the_exchange_with_a_session_token_flags_the_key(
    client: httpx.AsyncClient, runtime: App, dev: Dev
) -> None:
    # An account session token is no JWT: the key header names the credential.
    headers = {
        "Authorization": "Bearer fl_ses_whatever",
        "X-Fluide-Api-Key": dev.api_key,
        "X-Fluide-Api-Secret": dev.api_secret,
    }
    resp = await client.get("/api/v1/auth/me", headers=headers)
    assert resp.json()["code"] == "API_SECRET_NOT_ALLOWED"
    assert len(await _exposure_events(runtime, dev)) == 1


async def test_the_exchange_still_takes_the_secret(
    client: httpx.AsyncClient, runtime: App, dev: Dev
) -> None:
    for path in EXCHANGE_PATHS:
        resp = await client.post(path, headers=dev.exchange_headers())
        assert resp.status_code == 200, resp.text
    assert (await _credential(runtime, dev)).secret_exposed_at is None
    assert await _exposure_events(runtime, dev) == []


async def test_a_wrong_secret_outside_the_exchange_flags_nothing(
    client: httpx.AsyncClient, runtime: App, dev: Dev
) -> None:
    for value in (formats.new_api_secret(), "x", dev.api_key):
        headers = {"X-Fluide-Api-Key": dev.api_key, "X-Fluide-Api-Secret": value}
        resp = await client.get("/api/v1/authorize/current", headers=headers)
        assert resp.json()["code"] == "API_SECRET_NOT_ALLOWED"
    assert await _exposure_events(runtime, dev) == []
