"""Rate limits on the ``limits`` library: in memory by default, Redis when configured."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import lru_cache

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter


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
    """``hit`` counts one request; ``exceeded`` only looks (for lock-outs)."""

    def __init__(self, redis_url: str | None = None, prefix: str = "fluide") -> None:
        storage: Storage
        if redis_url:
            uri = "async+" + redis_url if not redis_url.startswith("async+") else redis_url
            storage = RedisStorage(uri, implementation="redispy", key_prefix=prefix)
        else:
            storage = MemoryStorage()
        self.storage = storage
        self._moving = MovingWindowRateLimiter(storage)

    async def hit(self, limit: str, *ids: str) -> Decision:
        """Count one request in a clock-aligned fixed window: one storage call (one Redis
        round trip), and the window's end is known without asking the storage for it."""
        item = parse_limit(limit)
        period = int(item.get_expiry())
        start = int(time.time()) // period * period
        count = await self.storage.incr(f"{item.key_for(*ids)}/{start}", period)
        return Decision(count <= item.amount, item.amount, item.amount - count, start + period)

    async def exceeded(self, limit: str, *ids: str) -> Decision | None:
        item = parse_limit(limit)
        stats = await self._moving.get_window_stats(item, *ids)
        if stats.remaining > 0:
            return None
        return Decision(False, item.amount, 0, stats.reset_time)

    async def count_failure(self, limit: str, *ids: str) -> None:
        await self._moving.hit(parse_limit(limit), *ids)

    async def reset(self) -> None:
        await self.storage.reset()
