"""Check 12: the per-key rate limit on product routes.

In memory (one process) the kit's fixed window (``kit.ratelimit.MemoryWindows``): no awaits,
no allocation beyond the decision. With Redis configured N processes share one budget per key
through a ``kit.ratelimit.SharedWindow``: each process decides from the last known global count
plus its own unsynchronised hits and adds its hits to Redis in the background, so a request
costs no Redis round trip while its key is far from the limit (the bound on over-admission is
in ``SharedWindow``'s docstring and docs/deploy.md §5).
"""

from __future__ import annotations

import math
import time

from fluide.kit.ratelimit import Decision, MemoryWindows, RateLimiter, SharedWindow, parse_limit


class ProductLimiter:
    def __init__(
        self, limit: str, shared: RateLimiter | None = None, namespace: str = "pkey"
    ) -> None:
        self.limit = parse_limit(limit)
        self.text = limit
        self.amount = self.limit.amount
        self.period = self.limit.period
        self.shared: SharedWindow | None = (
            shared.shared_window(limit, namespace) if shared is not None else None
        )
        self._limiter = shared
        self._limit_header = str(self.amount).encode()
        self.memory = MemoryWindows()  # keyed by the API key alone: these windows are ours

    async def reset(self) -> None:
        """Forget every window (tests; an operator lifting a limit)."""
        self.memory.clear()
        if self._limiter is not None:
            await self._limiter.reset()

    async def hit(self, api_key: str) -> Decision:
        if self.shared is not None:
            return await self.shared.hit(api_key)
        return self.hit_memory(api_key, time.time())

    def hit_memory(self, api_key: str, now: float) -> Decision:
        decision = self.memory.hit(api_key, self.limit, now)
        if decision.allowed:
            return decision
        return Decision(False, self.amount, 0, decision.reset_at)

    def raw_headers(self, decision: Decision) -> list[tuple[bytes, bytes]]:
        return [
            (b"x-ratelimit-limit", self._limit_header),
            (b"x-ratelimit-remaining", str(max(0, decision.remaining)).encode()),
            (b"x-ratelimit-reset", str(math.ceil(decision.reset_at)).encode()),
        ]
