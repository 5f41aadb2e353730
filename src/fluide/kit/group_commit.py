"""Group commit: the rows of many requests in one transaction, each request answered after it.

A request that must not answer before its rows are durable (the token exchange: the issued
token and its audit row) hands the rows to ``GroupCommitter.write`` and waits. One writer task
takes everything queued so far, inserts it in ONE transaction (an ``executemany`` per
statement) and wakes each waiter only after the commit. Under load this turns N transactions
of two inserts into one transaction of 2N rows; a lone request pays one event-loop hop.

Nothing is acknowledged before it is committed. When a batch fails, each of its submissions is
retried in a transaction of its own, so one bad submission fails alone and the others still
land; a waiter sees the exception of its own submission. ``stop`` commits what is queued
before it returns. Without a running writer (before ``start`` or after ``stop``) ``write``
commits inline, in a transaction of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.dml import Insert

log = logging.getLogger("fluide.group_commit")

Row = tuple[Insert, dict[str, Any]]
_Submission = tuple[Sequence[Row], "asyncio.Future[None]"]


class GroupCommitter:
    def __init__(self, engine: AsyncEngine, max_batch: int = 512) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self._queue: list[_Submission] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.batches = 0  # transactions committed by the writer (for tests and metrics)
        self.rows = 0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done() and not self._closing

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._closing = False
            self._wake = asyncio.Event()
            self._task = asyncio.create_task(self._run(), name="fluide-group-commit")

    async def stop(self) -> None:
        """Commit everything queued, then end the writer."""
        task = self._task
        if task is None:
            return
        self._closing = True
        self._wake.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self._task = None

    async def write(self, *rows: Row) -> None:
        """Return once ``rows`` are committed; raise what their insert raised otherwise."""
        if not rows:
            return
        if not self.running:
            await self._commit([rows])
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((rows, fut))
        self._wake.set()
        # Shielded: a caller that goes away (client disconnect) does not pull its rows out of
        # a batch that is being written; they land, and the audit log says so.
        await asyncio.shield(fut)

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._closing:
                    return
                await self._wake.wait()
                self._wake.clear()
                continue
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
            await self._write_batch(batch)

    async def _write_batch(self, batch: list[_Submission]) -> None:
        try:
            await self._commit([rows for rows, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exc)
                return
            # One transaction per submission: the bad one fails alone.
            for rows, fut in batch:
                try:
                    await self._commit([rows])
                except Exception as exc:
                    _settle(fut, exc)
                else:
                    _settle(fut, None)
            return
        except BaseException:  # cancelled mid-commit: nobody may wait forever
            for _, fut in batch:
                _settle(fut, RuntimeError("group commit stopped"))
            raise
        for _, fut in batch:
            _settle(fut, None)

    async def _commit(self, submissions: list[Sequence[Row]]) -> None:
        # One executemany per statement and set of columns, in the order they first appear.
        grouped: dict[tuple[int, tuple[str, ...]], tuple[Insert, list[dict[str, Any]]]] = {}
        for rows in submissions:
            for stmt, params in rows:
                key = (id(stmt), tuple(params))
                entry = grouped.get(key)
                if entry is None:
                    grouped[key] = (stmt, [params])
                else:
                    entry[1].append(params)
        async with self.engine.begin() as conn:
            for stmt, params_list in grouped.values():
                await conn.execute(stmt, params_list)
        self.batches += 1
        self.rows += sum(len(p) for _, p in grouped.values())


def _settle(fut: asyncio.Future[None], exc: BaseException | None) -> None:
    if fut.done():
        return
    if exc is None:
        fut.set_result(None)
    else:
        fut.set_exception(exc)
