"""Group commit (kit.group_commit): many requests' rows in one transaction, each caller resumed
only after its rows are committed, a bad submission failing alone, nothing queued lost on stop."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from fluide.app import App
from fluide.identity.models import AuditEvent
from fluide.kit.clock import system_clock
from fluide.kit.group_commit import GroupCommitter

_INSERT = insert(AuditEvent)
_BASE_ID = 10**12  # explicit ids far from the sequence, so a test can force a conflict


def _row(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": _BASE_ID + n,
        "occurred_at": system_clock(),
        "action": "test.group_commit",
        "outcome": "success",
        "code": None,
        "actor_type": "system",
        "actor_id": None,
        "tenant_id": None,
        "credential_id": None,
        "source_ip": None,
        "request_id": f"r{n}",
        "details": {"n": n},
        **extra,
    }


async def _committed(rt: App, *ids: int) -> int:
    # A fresh read: what any other connection (or process) sees now.
    async with rt.infra.read_engine.connect() as conn:
        count = await conn.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.id.in_(ids))
        )
    return int(count or 0)


async def test_concurrent_writes_share_transactions_and_return_after_commit(
    runtime: App,
) -> None:
    committer = runtime.infra.group_commit
    assert committer.running
    before = committer.batches
    seen_after_return: list[int] = []

    async def one(n: int) -> None:
        await committer.write((_INSERT, _row(n)))
        seen_after_return.append(await _committed(runtime, _BASE_ID + n))

    await asyncio.gather(*(one(n) for n in range(60)))
    assert seen_after_return == [1] * 60  # every caller's row was durable when it resumed
    assert await _committed(runtime, *(_BASE_ID + n for n in range(60))) == 60
    assert committer.batches - before < 60  # grouped: fewer transactions than writers


async def test_a_failing_submission_fails_alone(runtime: App) -> None:
    committer = runtime.infra.group_commit
    await committer.write((_INSERT, _row(0)))
    results = await asyncio.gather(
        *(committer.write((_INSERT, _row(n))) for n in (1, 2, 0, 3, 4)),  # 0 exists already
        return_exceptions=True,
    )
    assert [isinstance(r, IntegrityError) for r in results] == [False, False, True, False, False]
    assert await _committed(runtime, *(_BASE_ID + n for n in range(5))) == 5


async def test_rows_of_one_submission_land_together_or_not_at_all(runtime: App) -> None:
    committer = runtime.infra.group_commit
    await committer.write((_INSERT, _row(10)))
    with pytest.raises(IntegrityError):
        await committer.write((_INSERT, _row(11)), (_INSERT, _row(10)))
    assert await _committed(runtime, _BASE_ID + 11) == 0


async def test_stop_commits_what_is_queued(runtime: App) -> None:
    committer = GroupCommitter(runtime.infra.engine)
    committer.start()
    writes = [asyncio.ensure_future(committer.write((_INSERT, _row(20 + n)))) for n in range(25)]
    await asyncio.sleep(0)  # queued, not yet written
    await committer.stop()
    await asyncio.gather(*writes)
    assert await _committed(runtime, *(_BASE_ID + 20 + n for n in range(25))) == 25
    assert not committer.running


async def test_without_a_running_writer_a_write_commits_inline(runtime: App) -> None:
    committer = GroupCommitter(runtime.infra.engine)  # never started
    await committer.write((_INSERT, _row(50)), (_INSERT, _row(51, details=None)))
    assert committer.batches == 1
    assert await _committed(runtime, _BASE_ID + 50, _BASE_ID + 51) == 2
