"""Cached probes of the database and Redis for the health checks: no health route queries either.

One per process, owned by the infrastructure (``Infrastructure.probe``): the public
``GET /api/v1/health`` and the guarded product health routes read the same result. A background
task runs ``SELECT 1`` (bounded by a timeout) every half second; the route reads
the last result, so it is at most ~0.5 s old when the database answers. An unreachable database
fails fast (connection refused); a hung one is down after ``timeout``. The timeout is generous
because on a saturated event loop a healthy probe's awaits queue behind requests: a loaded
service is not a dead database. A result older than ``max_age`` counts as down (probe stuck).

``RedisProbe`` does the same with ``PING`` on a client of its own (so it reports Redis as the
service reaches it, not as the rate limiter's fallback hides it); it exists only when Redis is
configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from fluide.kit.faults import OUTAGES

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("fluide.probe")


class _Probe:
    """A check run every ``interval`` in the background; readers get its last result."""

    what = "dependency"

    def __init__(self, interval: float, timeout: float, max_age: float) -> None:
        self.interval, self.timeout, self.max_age = interval, timeout, max_age
        self.up = False
        self.checked_at = float("-inf")
        self._task: asyncio.Task[None] | None = None

    def status(self) -> str:
        if self.up and time.monotonic() - self.checked_at <= self.max_age:
            return "up"
        return "down"

    async def _once(self) -> None:
        raise NotImplementedError

    async def check(self) -> bool:
        try:
            async with asyncio.timeout(self.timeout):
                await self._once()
            up = True
        except Exception as exc:  # any failure is "down"; the type is enough for the log
            # One warning per outage, whoever notices it first (a request, the change feed).
            OUTAGES.down(self.what, exc)
            up = False
        else:
            OUTAGES.up(self.what)
        self.up, self.checked_at = up, time.monotonic()
        return up

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.check()

    async def start(self) -> None:
        await self.check()
        self._task = asyncio.create_task(self._loop(), name=f"fluide-{self.what}-probe")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


class DbProbe(_Probe):
    what = "database"

    def __init__(
        self,
        engine: Callable[[], AsyncEngine],
        interval: float = 0.5,
        timeout: float = 3.0,
        max_age: float = 5.0,
    ) -> None:
        super().__init__(interval, timeout, max_age)
        # Called on every probe, so a replaced engine is what gets probed.
        self._engine = engine

    def database(self) -> str:
        return self.status()

    async def _once(self) -> None:
        async with self._engine().connect() as conn:
            await conn.execute(text("SELECT 1"))


class RedisProbe(_Probe):
    what = "redis"

    def __init__(
        self, url: str, interval: float = 0.5, timeout: float = 1.0, max_age: float = 5.0
    ) -> None:
        super().__init__(interval, timeout, max_age)
        self._url = url
        self._client: Redis | None = None

    async def _once(self) -> None:
        if self._client is None:
            from redis.asyncio import Redis

            self._client = Redis.from_url(
                self._url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout
            )
        await self._client.ping()

    async def stop(self) -> None:
        await super().stop()
        if self._client is not None:
            client, self._client = self._client, None
            with contextlib.suppress(Exception):
                await client.aclose()
