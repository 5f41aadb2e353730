"""Rate limits on the ``limits`` library: in memory by default, Redis when configured."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from functools import lru_cache

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

log = logging.getLogger("fluide.ratelimit")


@lru_cache(maxsize=64)
def parse_limit(text: str) -> RateLimitItem:
    return parse(text)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_at: float

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.reset_at - time.time()))

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(0, self.remaining)),
            "X-RateLimit-Reset": str(math.ceil(self.reset_at)),
        }


class RateLimiter:
    """``hit`` counts one request; ``exceeded`` only looks (for lock-outs).

    With Redis configured and unreachable, limits fail open to this process's memory (logged),
    rather than turning every request into a 500: the limits then hold per process, not
    across them, until Redis answers again.
    """

    def __init__(self, redis_url: str | None = None, prefix: str = "fluide") -> None:
        storage: Storage
        if redis_url:
            uri = "async+" + redis_url if not redis_url.startswith("async+") else redis_url
            # Short timeouts: a dead or unreachable Redis must cost milliseconds, not a hang.
            storage = RedisStorage(
                uri,
                implementation="redispy",
                key_prefix=prefix,
                socket_timeout=0.5,
                socket_connect_timeout=0.5,
            )
        else:
            storage = MemoryStorage()
        self.storage = storage
        self._moving = MovingWindowRateLimiter(storage)
        self._local = MemoryStorage() if redis_url else storage
        self._local_moving = MovingWindowRateLimiter(self._local) if redis_url else self._moving

    async def hit(self, limit: str, *ids: str) -> Decision:
        """Count one request in a clock-aligned fixed window: one storage call (one Redis
        round trip), and the window's end is known without asking the storage for it."""
        item = parse_limit(limit)
        period = int(item.get_expiry())
        start = int(time.time()) // period * period
        key = f"{item.key_for(*ids)}/{start}"
        try:
            count = await self.storage.incr(key, period)
        except Exception as exc:
            _fell_back(exc)
            count = await self._local.incr(key, period)
        return Decision(count <= item.amount, item.amount, item.amount - count, start + period)

    async def exceeded(self, limit: str, *ids: str) -> Decision | None:
        item = parse_limit(limit)
        try:
            stats = await self._moving.get_window_stats(item, *ids)
        except Exception as exc:
            _fell_back(exc)
            stats = await self._local_moving.get_window_stats(item, *ids)
        if stats.remaining > 0:
            return None
        return Decision(False, item.amount, 0, stats.reset_time)

    async def count_failure(self, limit: str, *ids: str) -> None:
        try:
            await self._moving.hit(parse_limit(limit), *ids)
        except Exception as exc:
            _fell_back(exc)
            await self._local_moving.hit(parse_limit(limit), *ids)

    async def reset(self) -> None:
        await self.storage.reset()
        if self._local is not self.storage:
            await self._local.reset()


def _fell_back(exc: Exception) -> None:
    log.warning(
        "rate-limit storage unreachable; using in-process limits",
        extra={"error_type": type(exc).__name__},
    )
