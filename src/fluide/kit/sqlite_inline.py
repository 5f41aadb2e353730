"""SQLite on the event-loop thread, behind aiosqlite's API.

aiosqlite runs every call on a worker thread: a queue put, a thread wake-up and a
``call_soon_threadsafe`` per statement. In WAL mode a statement takes microseconds, so the
hand-off costs more than the work, and with many pooled connections the worker threads fight
the event loop for the GIL (measured: an exchange cost 5.3 ms of server CPU with threads).
Executing inline is cheaper and safe under one rule, kept by ``kit.db``: ONE connection per
process, so no statement here can wait on another connection of the same process (a busy
wait here blocks the loop). Other processes on the same file are waited for by
``busy_timeout``; many-process deployments belong on PostgreSQL (docs/deploy.md).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

import aiosqlite


class InlineConnection(aiosqlite.Connection):
    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    async def _connect(self) -> InlineConnection:
        if self._connection is None:
            self._connection = self._connector()
        return self


def inline_creator(path: str, timeout: float = 30.0) -> Callable[[], Awaitable[Any]]:
    def connector() -> sqlite3.Connection:
        # isolation_level=None: kit.db issues BEGIN itself.
        return sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)

    async def create() -> InlineConnection:
        # Awaiting also starts aiosqlite's worker thread; it only serves the rare calls that
        # bypass ``_execute`` (and the final stop), never a statement.
        conn = InlineConnection(connector, 64)
        await conn
        return conn

    return create
