"""Check 12: the per-key rate limit on product routes.

In memory (one process) a fixed window in a plain dict: no awaits, no allocation beyond the
decision. With Redis configured N processes share one budget per key through a
``kit.ratelimit.SharedWindow``: each process decides from the last known global count plus its
own unsynchronised hits and adds its hits to Redis in the background, so a request costs no
Redis round trip while its key is far from the limit (the bound on over-admission is in
``SharedWindow``'s docstring and docs/deploy.md §5).
"""

from __future__ import annotations

import math
import time

from fluide.kit.ratelimit import Decision, RateLimiter, SharedWindow, parse_limit

_PRUNE_AT = 50_000


class ProductLimiter:
    def __init__(
        self, limit: str, shared: RateLimiter | None = None, namespace: str = "pkey"
    ) -> None:
        item = parse_limit(limit)
        self.text = limit
        self.amount = int(item.amount)
        self.period = int(item.get_expiry())
        self.shared: SharedWindow | None = (
            shared.shared_window(limit, namespace) if shared is not None else None
        )
        self._limiter = shared
        self._limit_header = str(self.amount).encode()
        self._windows: dict[str, list[int]] = {}  # key → [window start, hits]

    async def reset(self) -> None:
        """Forget every window (tests; an operator lifting a limit)."""
        self._windows = {}
        if self._limiter is not None:
            await self._limiter.reset()

    async def hit(self, api_key: str) -> Decision:
        if self.shared is not None:
            return await self.shared.hit(api_key)
        return self.hit_memory(api_key, time.time())

    def hit_memory(self, api_key: str, now: float) -> Decision:
        period = self.period
        start = int(now) // period * period
        entry = self._windows.get(api_key)
        if entry is None or entry[0] != start:
            if entry is None and len(self._windows) >= _PRUNE_AT:
                self._prune(start)
            entry = [start, 0]
            self._windows[api_key] = entry
        if entry[1] >= self.amount:
            return Decision(False, self.amount, 0, start + period)
        entry[1] += 1
        return Decision(True, self.amount, self.amount - entry[1], start + period)

    def _prune(self, current: int) -> None:
        self._windows = {k: v for k, v in self._windows.items() if v[0] == current}
        if len(self._windows) >= _PRUNE_AT:
            # Bounded memory beats exact counts: a flood of distinct keys in one window
            # (e.g. well-formed fake keys on the exposure path) must not grow the dict forever.
            self._windows = {}

    def raw_headers(self, decision: Decision) -> list[tuple[bytes, bytes]]:
        return [
            (b"x-ratelimit-limit", self._limit_header),
            (b"x-ratelimit-remaining", str(max(0, decision.remaining)).encode()),
            (b"x-ratelimit-reset", str(math.ceil(decision.reset_at)).encode()),
        ]
