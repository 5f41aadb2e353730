"""20 concurrent rotations of one credential: one valid secret, one audit row per success."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from fluide.app import App
from fluide.identity.accounts import service as accounts
from fluide.identity.models import Account, AuditEvent
from tests.conftest import Dev, bearer, exchange

N = 20


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # Probing 21 secrets is 19+ failures: lift the brute-force lock-out for this module.
    return {"exchange_failure_limit": "1000/minute", "exchange_failure_limit_long": "1000/hour"}


async def _rotation_rows(runtime: App) -> int:
    async with runtime.infra.sessionmaker() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "credential.rotate_secret")
        )
    return int(count or 0)


async def _valid(client: httpx.AsyncClient, dev: Dev, secrets: list[str]) -> list[str]:
    valid = []
    for secret in secrets:
        resp = await client.post("/api/v1/authorize/token", headers=dev.exchange_headers(secret))
        if resp.status_code == 200:
            valid.append(secret)
        else:
            assert resp.json()["code"] == "DEVELOPER_KEYS_INVALID"
    return valid


async def test_without_grace_one_rotation_wins_and_the_rest_are_refused(
    client: httpx.AsyncClient, dev: Dev, runtime: App
) -> None:
    tokens = [(await exchange(client, dev))["accessToken"] for _ in range(N)]
    responses = await asyncio.gather(
        *(
            client.post(
                "/api/v1/authorize/rotate-secret", headers=bearer(t), json={"graceSeconds": 0}
            )
            for t in tokens
        )
    )
    assert all(r.status_code in (200, 401) for r in responses)
    won = [r.json() for r in responses if r.status_code == 200]
    lost = [r.json()["code"] for r in responses if r.status_code == 401]
    # The first rotation revokes every token minted before it, the other callers' included.
    assert len(won) == 1
    assert set(lost) <= {"TOKEN_REVOKED"}
    assert await _rotation_rows(runtime) == 1
    assert await _valid(client, dev, [dev.api_secret, won[0]["apiSecret"]]) == [won[0]["apiSecret"]]


async def test_with_grace_every_rotation_lands_and_two_secrets_remain(
    client: httpx.AsyncClient, dev: Dev, runtime: App
) -> None:
    token = (await exchange(client, dev))["accessToken"]
    responses = await asyncio.gather(
        *(
            client.post(
                "/api/v1/authorize/rotate-secret", headers=bearer(token), json={"graceSeconds": 300}
            )
            for _ in range(N)
        )
    )
    assert [r.status_code for r in responses] == [200] * N
    secrets = [dev.api_secret] + [r.json()["apiSecret"] for r in responses]
    assert len(set(secrets)) == N + 1
    assert await _rotation_rows(runtime) == N
    valid = await _valid(client, dev, secrets)
    assert len(valid) == 2  # the newest and the one before it, inside its grace window


async def test_session_rotations_without_grace_leave_exactly_one_secret(
    client: httpx.AsyncClient, dev: Dev, runtime: App
) -> None:
    async with runtime.infra.sessionmaker() as session, session.begin():
        account = await session.get(Account, dev.account_id)
        assert account is not None
        account.password_hash = accounts.hash_password("a long password 123")
    signed = await client.post(
        "/api/v1/auth/signin", json={"email": account.email, "password": "a long password 123"}
    )
    assert signed.status_code == 200, signed.text
    session_headers = {"Authorization": f"Bearer {signed.json()['sessionToken']}"}
    path = f"/api/v1/auth/credentials/{dev.credential_id}/rotate-secret"
    responses = await asyncio.gather(
        *(client.post(path, headers=session_headers, json={"graceSeconds": 0}) for _ in range(N))
    )
    assert [r.status_code for r in responses] == [200] * N
    secrets = [dev.api_secret] + [r.json()["apiSecret"] for r in responses]
    assert await _rotation_rows(runtime) == N
    assert len(await _valid(client, dev, secrets)) == 1
