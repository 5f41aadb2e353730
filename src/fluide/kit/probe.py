"""A cached database probe for the health checks: no health route queries the database.

One per process, owned by the infrastructure (``Infrastructure.probe``): the public
``GET /api/v1/health`` and the guarded product health routes read the same result. A background
task runs ``SELECT 1`` (bounded by a timeout) every half second; the route reads
the last result, so it is at most ~0.5 s old when the database answers. An unreachable database
fails fast (connection refused); a hung one is down after ``timeout``. The timeout is generous
because on a saturated event loop a healthy probe's awaits queue behind requests: a loaded
service is not a dead database. A result older than ``max_age`` counts as down (probe stuck).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from fluide.kit.faults import DATABASE, OUTAGES

log = logging.getLogger("fluide.probe")


class DbProbe:
    def __init__(
        self,
        engine: Callable[[], AsyncEngine],
        interval: float = 0.5,
        timeout: float = 3.0,
        max_age: float = 5.0,
    ) -> None:
        # Called on every probe, so a replaced engine is what gets probed.
        self._engine = engine
        self.interval, self.timeout, self.max_age = interval, timeout, max_age
        self.up = False
        self.checked_at = float("-inf")
        self._task: asyncio.Task[None] | None = None

    def database(self) -> str:
        if self.up and time.monotonic() - self.checked_at <= self.max_age:
            return "up"
        return "down"

    async def check(self) -> bool:
        try:
            async with asyncio.timeout(self.timeout):
                async with self._engine().connect() as conn:
                    await conn.execute(text("SELECT 1"))
            up = True
        except Exception as exc:  # any failure is "down"; the type is enough for the log
            # One warning per outage, whoever notices it first (a request, the change feed).
            OUTAGES.down(DATABASE, exc)
            up = False
        else:
            OUTAGES.up(DATABASE)
        self.up, self.checked_at = up, time.monotonic()
        return up

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.check()

    async def start(self) -> None:
        await self.check()
        self._task = asyncio.create_task(self._loop(), name="fluide-db-probe")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
