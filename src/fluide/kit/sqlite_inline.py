"""SQLite on the event-loop thread, behind aiosqlite's API.

aiosqlite runs every call on a worker thread: a queue put, a thread wake-up and a
``call_soon_threadsafe`` per statement. In WAL mode a statement takes microseconds, so the
hand-off costs more than the work, and with many pooled connections the worker threads fight
the event loop for the GIL (measured: an exchange cost 5.3 ms of server CPU with threads).
Executing inline is cheaper. ``kit.db`` keeps ONE connection per process, so requests queue
on the pool rather than on SQLite's lock. Waits for a lock held
elsewhere (another process, or another engine in this one) are asynchronous retries, never a
sleep on the loop's thread. Many-process deployments belong on PostgreSQL (docs/deploy.md).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

import aiosqlite

BUSY_TIMEOUT_SECONDS = 30.0
# Retry a locked database after 0.5 ms, doubling to 5 ms: a writer holds the lock for a group
# commit (about a millisecond), and a long sleep would leave the lock idle while requests wait.


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc)
    return "database is locked" in text or "database is busy" in text


class InlineConnection(aiosqlite.Connection):
    # How long a statement waits for a lock another connection holds before it fails with
    # "database is locked" (a 503, kit.faults). ``inline_creator`` sets it per engine.
    busy_timeout = BUSY_TIMEOUT_SECONDS

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        try:
            return fn(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise
        # Another connection (another process, or another engine in this one) holds the lock.
        # SQLite's own busy handler would sleep on the event loop's thread, so the connection
        # has busy_timeout=0 and the wait happens here, without blocking the loop. A statement
        # refused with SQLITE_BUSY did not run, so running it again is safe.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.busy_timeout
        delay = 0.0005
        while True:
            await asyncio.sleep(delay)
            try:
                return fn(*args, **kwargs)
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or loop.time() >= deadline:
                    raise
            delay = min(delay * 2, 0.005)

    async def _connect(self) -> InlineConnection:
        if self._connection is None:
            self._connection = self._connector()
        return self


def inline_creator(
    path: str, busy_timeout: float = BUSY_TIMEOUT_SECONDS
) -> Callable[[], Awaitable[Any]]:
    def connector() -> sqlite3.Connection:
        # isolation_level=None: kit.db issues BEGIN itself.
        return sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)

    async def create() -> InlineConnection:
        # Awaiting also starts aiosqlite's worker thread; it only serves the rare calls that
        # bypass ``_execute`` (and the final stop), never a statement.
        conn = InlineConnection(connector, 64)
        conn.busy_timeout = busy_timeout
        await conn
        return conn

    return create
