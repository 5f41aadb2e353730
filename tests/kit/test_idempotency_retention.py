"""Idempotency-key retention on SQLite and PostgreSQL, with the app's frozen clock: a completed
key replays within ``FLUIDE_IDEMPOTENCY_RETENTION_HOURS`` and is new again after it; the purge
deletes expired completed keys in bounded batches and never a key in flight. (The background
purge that the app runs: ``test_idempotency_purger.py``.)"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from fluide.app import App
from fluide.kit import idempotency
from fluide.kit.clock import FrozenClock
from fluide.kit.idempotency import IdempotencyRecord
from tests.kit.test_idempotency import _run as run
from tests.kit.test_idempotency import counting_work

HOUR = 3600.0
RETENTION = timedelta(hours=24)


async def _run(runtime: App, key: str, body: str, calls: list[int]) -> Any:
    return await run(runtime, key, body, counting_work(calls))  # retention: the 24 h default


async def _rows(runtime: App) -> dict[str, str]:
    async with runtime.infra.sessionmaker() as session:
        rows = await session.execute(select(IdempotencyRecord.key, IdempotencyRecord.status))
        return {key: status for key, status in rows}


async def test_a_key_replays_within_retention_and_is_new_after_it(
    runtime: App, clock: FrozenClock
) -> None:
    calls: list[int] = []
    first = await _run(runtime, "k", "same", calls)
    clock.advance(24 * HOUR - 1)
    within = await _run(runtime, "k", "same", calls)
    assert len(calls) == 1 and within.headers.get("idempotent-replayed") == "true"
    assert bytes(within.body) == bytes(first.body)
    with pytest.raises(idempotency.IdempotencyKeyReused):
        await _run(runtime, "k", "other", calls)

    clock.advance(2)  # 24 h + 1 s after it completed: new again, the work runs again
    after = await _run(runtime, "k", "same", calls)
    assert len(calls) == 2 and "idempotent-replayed" not in after.headers
    assert bytes(after.body) == orjson.dumps({"n": 2})
    # ... and its own retention starts now: a retry replays the new answer.
    again = await _run(runtime, "k", "same", calls)
    assert len(calls) == 2 and bytes(again.body) == bytes(after.body)


async def test_after_retention_a_key_may_carry_another_body(
    runtime: App, clock: FrozenClock
) -> None:
    calls: list[int] = []
    await _run(runtime, "k", "one", calls)
    clock.advance(25 * HOUR)
    resp = await _run(runtime, "k", "two", calls)
    assert resp.status_code == 201 and len(calls) == 2


async def test_concurrent_retries_of_an_expired_key_run_it_once(
    runtime: App, clock: FrozenClock
) -> None:
    calls: list[int] = []
    await _run(runtime, "k", "same", calls)
    clock.advance(25 * HOUR)
    responses = await asyncio.gather(*(_run(runtime, "k", "same", calls) for _ in range(5)))
    assert len(calls) == 2
    assert {bytes(r.body) for r in responses} == {orjson.dumps({"n": 2})}


async def _insert(
    runtime: App, key: str, status: str, created_hours_ago: float, completed_hours_ago: float
) -> None:
    now = runtime.infra.clock()
    async with runtime.infra.sessionmaker() as session, session.begin():
        session.add(
            IdempotencyRecord(
                tenant_id="ten_test",
                key=key,
                request_hash="h",
                status=status,
                response_status=201 if status == "COMPLETED" else None,
                response_body="{}" if status == "COMPLETED" else None,
                created_at=now - timedelta(hours=created_hours_ago),
                completed_at=(
                    now - timedelta(hours=completed_hours_ago) if status == "COMPLETED" else None
                ),
            )
        )


async def test_purge_deletes_expired_completed_keys_in_bounded_batches(
    runtime: App,
) -> None:
    for i in range(5):
        await _insert(runtime, f"old-{i}", "COMPLETED", 30, 25 + i)
    await _insert(runtime, "fresh", "COMPLETED", 23, 23)
    await _insert(runtime, "in-flight", "IN_PROGRESS", 48, 0)  # older than retention, alive
    now = runtime.infra.clock()

    assert (
        await idempotency.purge_expired(runtime.infra.sessionmaker, now, batch=2, max_batches=1)
        == 2
    )
    assert len(await _rows(runtime)) == 5
    assert await idempotency.purge_expired(runtime.infra.sessionmaker, now, batch=2) == 3
    assert await _rows(runtime) == {"fresh": "COMPLETED", "in-flight": "IN_PROGRESS"}
    assert await idempotency.purge_expired(runtime.infra.sessionmaker, now) == 0
