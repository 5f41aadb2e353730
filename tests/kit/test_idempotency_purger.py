"""The app's background purge of expired idempotency keys (``FLUIDE_IDEMPOTENCY_PURGE_SECONDS``,
here 0.05 s) with the app's frozen clock, on SQLite and PostgreSQL: a key within retention
survives the passes and replays, an expired one is deleted (a key in flight never), and the key
is then new again."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from fluide.app import App
from fluide.kit.clock import FrozenClock
from fluide.kit.idempotency import IdempotencyRecord
from tests.conftest import Dev
from tests.kit.test_idempotency_retention import HOUR, _insert, _rows
from tests.products.helpers import headers_for

JE = "/api/v1/books/journal-entries"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"idempotency_purge_seconds": 0.05}


async def test_the_app_purges_expired_keys_in_the_background(
    client: httpx.AsyncClient, runtime: App, clock: FrozenClock, dev: Dev
) -> None:
    h = await headers_for(client, dev)
    entry = {
        "date": "2026-11-27",
        "description": "Retention",
        "currency": "NGN",
        "lines": [
            {"accountCode": "1000", "debit": "10.00"},
            {"accountCode": "3000", "credit": "10.00"},
        ],
    }
    keyed = {**h, "Idempotency-Key": "retained"}
    first = await client.post(JE, headers=keyed, json=entry)
    assert first.status_code == 201, first.text
    await _insert(runtime, "in-flight", "IN_PROGRESS", 48, 0)

    clock.advance(23 * HOUR)  # within retention: still there through several purge passes
    await asyncio.sleep(0.3)
    assert "retained" in await _rows(runtime)
    h = await headers_for(client, dev)  # the first token expired meanwhile
    keyed = {**h, "Idempotency-Key": "retained"}
    replay = await client.post(JE, headers=keyed, json=entry)
    assert replay.headers.get("idempotent-replayed") == "true"
    assert replay.json()["id"] == first.json()["id"]

    clock.advance(2 * HOUR)
    end = time.monotonic() + 10
    while time.monotonic() < end:  # the next passes (every 0.05 s) delete it
        if "retained" not in await _rows(runtime):
            break
        await asyncio.sleep(0.05)
    assert await _rows(runtime) == {"in-flight": "IN_PROGRESS"}

    h = await headers_for(client, dev)
    again = await client.post(JE, headers={**h, "Idempotency-Key": "retained"}, json=entry)
    assert again.status_code == 201 and "idempotent-replayed" not in again.headers
    assert again.json()["id"] != first.json()["id"]
    async with runtime.infra.sessionmaker() as session:
        total = await session.scalar(select(func.count()).select_from(IdempotencyRecord))
    assert total == 2
