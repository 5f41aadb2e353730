"""Check 1: a secret on a product route is refused; a live one flags its credential."""

from __future__ import annotations

import logging

import httpx
import pytest
from sqlalchemy import select

from fluide.gateway.limiter import ProductLimiter
from fluide.identity import formats
from fluide.identity.models import AuditEvent, Credential
from fluide.runtime import Runtime
from tests.conftest import CLIENT_ID, Dev, bearer, create_dev, exchange

HEALTH = "/api/v1/hr/health"


async def _credential(rt: Runtime, dev: Dev) -> Credential:
    async with rt.sessionmaker() as session:
        cred = await session.get(Credential, dev.credential_id)
        assert cred is not None
        return cred


async def _exposure_events(rt: Runtime, dev: Dev) -> list[AuditEvent]:
    async with rt.sessionmaker() as session:
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
    client: httpx.AsyncClient, runtime: Runtime, dev: Dev, caplog: pytest.LogCaptureFixture
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
    client: httpx.AsyncClient, runtime: Runtime, dev: Dev
) -> None:
    token = (await exchange(client, dev))["accessToken"]
    headers = {"Authorization": f"Bearer {token}", "X-Fluide-Client-Id": CLIENT_ID}
    resp = await client.get(HEALTH, headers={**headers, "X-Fluide-Api-Secret": dev.api_secret})
    assert resp.json()["code"] == "API_SECRET_NOT_ALLOWED"
    assert (await _credential(runtime, dev)).secret_exposed_at is not None


async def test_previous_secret_in_grace_flags(
    client: httpx.AsyncClient, runtime: Runtime, dev: Dev
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
    client: httpx.AsyncClient, runtime: Runtime, dev: Dev, which: str
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
    client: httpx.AsyncClient, runtime: Runtime, dev: Dev
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
