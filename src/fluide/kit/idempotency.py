"""``Idempotency-Key`` for money-moving POSTs, race-safe on SQLite and PostgreSQL.

The key row (tenant, key) is inserted first, in its own committed transaction, with
``INSERT … ON CONFLICT DO NOTHING``: exactly one request wins it. The winner runs the work and
stores the response in the same transaction as the work, so "work done" and "response stored"
commit together. Losers with the same body wait for the stored response and replay it; a
different body is ``IDEMPOTENCY_KEY_REUSED``. A failed attempt (an error, nothing committed)
releases the key so the client may retry. A winner that died mid-flight leaves an
``IN_PROGRESS`` row that a retry may take over after ``stale_after`` (``STALE_AFTER`` by default;
the routes pass ``Settings.idempotency_stale_seconds``, ``FLUIDE_IDEMPOTENCY_STALE_SECONDS``).

A completed key is kept for ``retention`` after it completed (``RETENTION`` by default; the
routes pass ``FLUIDE_IDEMPOTENCY_RETENTION_HOURS``): within it a retry replays, after it the key
is new again, whether or not the row was purged yet (an expired row is taken over with a
compare-and-set on its completion time). ``Purger`` deletes expired completed rows in bounded
batches in the background; a key in flight (``IN_PROGRESS``) is never purged.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, cast

import orjson
from sqlalchemy import Index, Integer, String, Text, delete, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column
from starlette.responses import Response

from fluide.kit.clock import Clock, as_utc
from fluide.kit.db import Base, UTCDateTime
from fluide.kit.errors import Conflict, ValidationFailed
from fluide.kit.tasks import stop_gracefully

HEADER = "Idempotency-Key"
STALE_AFTER = timedelta(seconds=120)
RETENTION = timedelta(hours=24)
PURGE_BATCH = 500  # rows per purge transaction: short write locks, short row locks
PURGE_MAX_BATCHES = 20  # per pass; a larger backlog is worked off over the next passes
log = logging.getLogger("fluide.idempotency")
MAX_KEY_LENGTH = 255

Work = Callable[[AsyncSession], Awaitable[tuple[int, Any]]]


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"

    tenant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # IN_PROGRESS | COMPLETED
    response_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response_body: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    # The purge finds expired rows by completion time (NULL while in progress).
    __table_args__ = (Index("ix_idempotency_keys_completed_at", "completed_at"),)


class IdempotencyKeyReused(Conflict):
    code = "IDEMPOTENCY_KEY_REUSED"
    message = "This Idempotency-Key was already used with a different request"


class IdempotencyInProgress(Conflict):
    code = "IDEMPOTENCY_REQUEST_IN_PROGRESS"
    message = "A request with this Idempotency-Key is still being processed; retry shortly"


async def insert_ignore(session: AsyncSession, model: type[Base], values: dict[str, Any]) -> bool:
    """``INSERT … ON CONFLICT DO NOTHING``; True when this call inserted the row."""
    stmt: Any
    if session.get_bind().dialect.name == "postgresql":
        stmt = pg_insert(model).values(**values).on_conflict_do_nothing()
    else:
        stmt = sqlite_insert(model).values(**values).on_conflict_do_nothing()
    result = cast(CursorResult[Any], await session.execute(stmt))
    return result.rowcount == 1


def fingerprint(method: str, path: str, body: Any) -> str:
    canonical = orjson.dumps([method.upper(), path, body], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def check_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationFailed(
            errors={HEADER: [f"must be 1 to {MAX_KEY_LENGTH} printable characters"]}
        )
    return key


def _json(status: int, body: bytes, replayed: bool = False) -> Response:
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return Response(body, status_code=status, media_type="application/json", headers=headers)


async def execute(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    *,
    tenant_id: str,
    key: str | None,
    request_hash: str,
    work: Work,
    wait_seconds: float = 15.0,
    stale_after: timedelta = STALE_AFTER,
    retention: timedelta = RETENTION,
) -> Response:
    """Run ``work`` in one transaction at most once per (tenant, key); replay otherwise."""
    key = check_key(key)
    if key is None:
        async with sessionmaker() as session, session.begin():
            status, body = await work(session)
        return _json(status, orjson.dumps(body))

    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while not await _claim(
        sessionmaker, clock, tenant_id, key, request_hash, stale_after, retention
    ):
        replay = await _replay(
            sessionmaker, clock, tenant_id, key, request_hash, deadline, stale_after, retention
        )
        if replay is not None:
            return replay
        # The winner failed and released the key: compete for it again.
    try:
        async with sessionmaker() as session, session.begin():
            status, body = await work(session)
            payload = orjson.dumps(body)
            await session.execute(
                update(IdempotencyRecord)
                .where(IdempotencyRecord.tenant_id == tenant_id, IdempotencyRecord.key == key)
                .values(
                    status="COMPLETED",
                    response_status=status,
                    response_body=payload.decode(),
                    completed_at=clock(),
                )
            )
    except Exception:
        # Nothing of the work committed, or (a connection cut at the commit) maybe it did:
        # release the key so the client can retry. A key that completed is not released (the
        # condition), so a retry replays it; during an outage the release is retried until the
        # database answers, so a retry need not wait for the claim to go stale.
        await _release(sessionmaker, tenant_id, key, stale_after)
        raise
    return _json(status, payload)


_RELEASES: set[asyncio.Task[None]] = set()  # kept referenced until they end


async def _release(
    sessionmaker: async_sessionmaker[AsyncSession],
    tenant_id: str,
    key: str,
    stale_after: timedelta,
) -> None:
    async def once() -> None:
        async with sessionmaker() as session, session.begin():
            await session.execute(
                delete(IdempotencyRecord).where(
                    IdempotencyRecord.tenant_id == tenant_id,
                    IdempotencyRecord.key == key,
                    IdempotencyRecord.status == "IN_PROGRESS",
                )
            )

    async def until_done() -> None:
        # After ``stale_after`` a retry takes the claim over anyway.
        deadline = asyncio.get_running_loop().time() + stale_after.total_seconds()
        while asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.5)
            with contextlib.suppress(Exception):
                await once()
                return

    try:
        await once()
    except Exception as exc:
        log.info("idempotency key release deferred", extra={"error_type": type(exc).__name__})
        task = asyncio.create_task(until_done(), name="fluide-idempotency-release")
        _RELEASES.add(task)
        task.add_done_callback(_RELEASES.discard)


async def _claim(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    tenant_id: str,
    key: str,
    request_hash: str,
    stale_after: timedelta = STALE_AFTER,
    retention: timedelta = RETENTION,
) -> bool:
    now = clock()
    async with sessionmaker() as session, session.begin():
        if await insert_ignore(
            session,
            IdempotencyRecord,
            {
                "tenant_id": tenant_id,
                "key": key,
                "request_hash": request_hash,
                "status": "IN_PROGRESS",
                "created_at": now,
            },
        ):
            return True
        row = await _load(session, tenant_id, key)
        if row is not None and _expired(row, now, retention):
            # Past retention the key is new again, whatever body it was used with: claim it
            # with a compare-and-set on its completion time (one racer wins, as for a new key).
            return await _compare_and_set(
                session,
                row,
                IdempotencyRecord.completed_at == row.completed_at,
                request_hash=request_hash,
                status="IN_PROGRESS",
                response_status=None,
                response_body=None,
                created_at=now,
                completed_at=None,
            )
        if row is None or row.request_hash != request_hash:
            return False  # _replay answers (reused, or vanished: in progress)
        if row.status == "IN_PROGRESS" and as_utc(row.created_at) < now - stale_after:
            # The previous winner died; take over with a compare-and-set on its start time.
            return await _compare_and_set(
                session, row, IdempotencyRecord.created_at == row.created_at, created_at=now
            )
    return False


async def _compare_and_set(
    session: AsyncSession, row: IdempotencyRecord, unchanged: Any, **values: Any
) -> bool:
    """Update ``row`` only if its status and ``unchanged`` still hold; True if this call did."""
    result = cast(
        CursorResult[Any],
        await session.execute(
            update(IdempotencyRecord)
            .where(
                IdempotencyRecord.tenant_id == row.tenant_id,
                IdempotencyRecord.key == row.key,
                IdempotencyRecord.status == row.status,
                unchanged,
            )
            .values(**values)
        ),
    )
    return result.rowcount == 1


async def _load(session: AsyncSession, tenant_id: str, key: str) -> IdempotencyRecord | None:
    return (
        await session.execute(
            select(IdempotencyRecord)
            .where(IdempotencyRecord.tenant_id == tenant_id, IdempotencyRecord.key == key)
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()


async def _replay(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    tenant_id: str,
    key: str,
    request_hash: str,
    deadline: float,
    stale_after: timedelta = STALE_AFTER,
    retention: timedelta = RETENTION,
) -> Response | None:
    """The stored response once the winner completes; None if the key was released.

    None too once the winner's claim goes stale while we wait (it died): the caller then
    competes to take the key over instead of waiting out ``wait_seconds`` for a dead request;
    and for a completed key past ``retention`` (the key is new again: the caller claims it).
    """
    loop = asyncio.get_running_loop()
    delay = 0.02
    while True:
        async with sessionmaker() as session:
            row = await _load(session, tenant_id, key)
        if row is None or _expired(row, clock(), retention):
            return None
        if row.request_hash != request_hash:
            raise IdempotencyKeyReused
        if row.status == "COMPLETED":
            assert row.response_status is not None and row.response_body is not None
            return _json(row.response_status, row.response_body.encode(), replayed=True)
        if as_utc(row.created_at) < clock() - stale_after:
            return None
        if loop.time() >= deadline:
            raise IdempotencyInProgress(headers={"Retry-After": "1"})
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.25)


def _expired(row: IdempotencyRecord, now: datetime, retention: timedelta) -> bool:
    return (
        row.status == "COMPLETED"
        and row.completed_at is not None
        and as_utc(row.completed_at) < now - retention
    )


async def purge_expired(
    sessionmaker: async_sessionmaker[AsyncSession],
    now: datetime,
    retention: timedelta = RETENTION,
    *,
    batch: int = PURGE_BATCH,
    max_batches: int = PURGE_MAX_BATCHES,
) -> int:
    """Delete completed keys that completed before ``now - retention``; the number deleted.

    At most ``batch`` rows per transaction and ``max_batches`` transactions per call, so a
    large backlog never holds a long lock. ``IN_PROGRESS`` rows are never touched: the
    conditions are repeated on the deleted rows themselves, so a row taken over for a new
    request between the select and the delete (PostgreSQL re-checks them on the row it
    locks) is left alone.
    """
    cutoff = now - retention
    expired = (IdempotencyRecord.status == "COMPLETED", IdempotencyRecord.completed_at < cutoff)
    total = 0
    for _ in range(max_batches):
        chosen = select(IdempotencyRecord.tenant_id, IdempotencyRecord.key).where(*expired)
        async with sessionmaker() as session, session.begin():
            result = cast(
                CursorResult[Any],
                await session.execute(
                    delete(IdempotencyRecord).where(
                        tuple_(IdempotencyRecord.tenant_id, IdempotencyRecord.key).in_(
                            chosen.limit(batch)
                        ),
                        *expired,
                    )
                ),
            )
        total += result.rowcount
        if result.rowcount < batch:
            break
        await asyncio.sleep(0)  # let requests in between batches
    return total


class Purger:
    """The background purge: ``purge_expired`` every ``interval`` seconds until stopped.

    Stopping lets a batch in progress finish (it is one short transaction) instead of
    cancelling it mid-transaction; it is cancelled only if it does not end in time.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Clock,
        retention: timedelta,
        interval: float,
    ) -> None:
        self.sessionmaker, self.clock = sessionmaker, clock
        self.retention, self.interval = retention, interval
        self.purged = 0
        self.passes = 0
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval)
            if self._stopping.is_set():
                return
            try:
                self.purged += await purge_expired(self.sessionmaker, self.clock(), self.retention)
            except Exception as exc:  # a database blip: try again next time
                log.warning("idempotency purge failed", extra={"error_type": type(exc).__name__})
            self.passes += 1

    def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._loop(), name="fluide-idempotency-purge")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            await stop_gracefully(task, self._stopping)
