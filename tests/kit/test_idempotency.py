"""kit.idempotency against the real databases: winner, replay, in-progress, takeover, release."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fluide.app import App
from fluide.kit import idempotency
from fluide.kit.clock import FrozenClock
from fluide.kit.errors import AppError, ValidationFailed
from fluide.kit.idempotency import IdempotencyRecord


class Boom(AppError):
    code = "BOOM"


async def _run(runtime: App, key: str | None, body: str, work: Any, wait: float = 5.0) -> Any:
    return await idempotency.execute(
        runtime.infra.sessionmaker,
        runtime.infra.clock,
        tenant_id="ten_test",
        key=key,
        request_hash=idempotency.fingerprint("POST", "/x", {"b": body}),
        work=work,
        wait_seconds=wait,
    )


def counting_work(calls: list[int], delay: float = 0.0) -> Any:
    async def work(session: AsyncSession) -> tuple[int, Any]:
        calls.append(1)
        await asyncio.sleep(delay)
        return 201, {"n": len(calls)}

    return work


async def test_winner_runs_once_and_losers_replay(runtime: App) -> None:
    calls: list[int] = []
    responses = await asyncio.gather(
        *(_run(runtime, "k", "same", counting_work(calls, 0.05)) for _ in range(5))
    )
    assert len(calls) == 1
    assert {r.status_code for r in responses} == {201}
    assert {bytes(r.body) for r in responses} == {orjson.dumps({"n": 1})}
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == 4


async def test_different_body_is_refused(runtime: App) -> None:
    await _run(runtime, "k", "one", counting_work([]))
    with pytest.raises(idempotency.IdempotencyKeyReused):
        await _run(runtime, "k", "two", counting_work([]))


async def test_in_progress_then_stale_takeover(runtime: App, clock: FrozenClock) -> None:
    async with runtime.infra.sessionmaker() as session, session.begin():
        session.add(
            IdempotencyRecord(
                tenant_id="ten_test",
                key="k",
                request_hash=idempotency.fingerprint("POST", "/x", {"b": "same"}),
                status="IN_PROGRESS",
                created_at=clock(),
            )
        )
    calls: list[int] = []
    with pytest.raises(idempotency.IdempotencyInProgress) as caught:
        await _run(runtime, "k", "same", counting_work(calls), wait=0.2)
    assert caught.value.status == 409 and caught.value.headers["Retry-After"] == "1"
    assert calls == []
    clock.advance(idempotency.STALE_AFTER.total_seconds() + 1)  # the winner died
    resp = await _run(runtime, "k", "same", counting_work(calls))
    assert resp.status_code == 201 and calls == [1]


async def test_a_waiting_retry_takes_over_when_the_claim_goes_stale(
    runtime: App, clock: FrozenClock
) -> None:
    """A retry already waiting on a dead winner's key takes it over once it is stale."""
    async with runtime.infra.sessionmaker() as session, session.begin():
        session.add(
            IdempotencyRecord(
                tenant_id="ten_test",
                key="k",
                request_hash=idempotency.fingerprint("POST", "/x", {"b": "same"}),
                status="IN_PROGRESS",
                created_at=clock(),
            )
        )
    calls: list[int] = []
    waiting = asyncio.create_task(_run(runtime, "k", "same", counting_work(calls), wait=30))
    await asyncio.sleep(0.2)
    assert not waiting.done() and calls == []
    clock.advance(idempotency.STALE_AFTER.total_seconds() + 1)  # the winner died
    resp = await asyncio.wait_for(waiting, 10)
    assert resp.status_code == 201 and calls == [1]


async def test_a_failure_releases_the_key(runtime: App) -> None:
    async def fail(session: AsyncSession) -> tuple[int, Any]:
        raise Boom

    with pytest.raises(Boom):
        await _run(runtime, "k", "same", fail)
    async with runtime.infra.sessionmaker() as session:
        assert (await session.scalars(select(IdempotencyRecord))).all() == []
    calls: list[int] = []
    assert (await _run(runtime, "k", "same", counting_work(calls))).status_code == 201
    assert calls == [1]


async def test_without_a_key_every_call_runs(runtime: App) -> None:
    calls: list[int] = []
    await _run(runtime, None, "same", counting_work(calls))
    await _run(runtime, None, "same", counting_work(calls))
    assert calls == [1, 1]


@pytest.mark.parametrize("bad", ["", "x" * 256, "tab\there"])
async def test_malformed_keys_are_validation_errors(runtime: App, bad: str) -> None:
    with pytest.raises(ValidationFailed):
        await _run(runtime, bad, "same", counting_work([]))
