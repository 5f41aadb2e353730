"""The windows in this process's memory: plain dicts, no awaits.

The in-memory twin of ``redis_store.RedisWindows`` (the same arithmetic, decision for decision:
tests/kit/ratelimit/test_windows.py runs both over the same random hits). It is the storage
when no Redis is configured, and the fall-back while Redis is unreachable.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from fluide.kit.ratelimit import base
from fluide.kit.ratelimit.base import Decision, Limit

# A window to check (moving) or to hit (fixed): its key (``base.key_for``) and its limit.
Window = tuple[str, Limit]


class MemoryWindows:
    """Fixed windows (``hit``) and moving windows (``full_until`` / ``record``) by key."""

    def __init__(self) -> None:
        self.fixed: dict[str, list[int]] = {}  # key/start → [window start, count]
        self.moving: dict[str, deque[float]] = {}  # key → newest timestamps, at most `amount`

    def hit(self, key: str, limit: Limit, now: float) -> Decision:
        """Count one hit in the clock-aligned fixed window holding ``now`` (refused ones too,
        as Redis's ``INCR`` does)."""
        # The product limit's hot path without Redis: written out (no helper calls), it costs
        # what the gateway's own dict window did before there was one window per storage.
        period = limit.period
        start = int(now) // period * period  # base.window_start
        counter = f"{key}/{start}"
        entry = self.fixed.get(counter)
        if entry is None:
            entry = self._new(counter, start)
        entry[1] += 1
        count, amount = entry[1], limit.amount
        return Decision(count <= amount, amount, amount - count, start + period)

    def _new(self, counter: str, start: int) -> list[int]:
        if len(self.fixed) >= base.PRUNE_AT:
            self.fixed = {k: v for k, v in self.fixed.items() if v[0] >= start}
            if len(self.fixed) >= base.PRUNE_AT:
                self.fixed = {}
        entry = self.fixed[counter] = [start, 0]
        return entry

    def full_until(self, key: str, limit: Limit, now: float) -> float | None:
        """When the moving window frees a slot, if it is full now."""
        entries = self.moving.get(key)
        amount = limit.amount
        if entries is None or len(entries) < amount:
            return None
        oldest = entries[-amount]
        return oldest + limit.period if oldest > now - limit.period else None

    def record(self, key: str, limit: Limit, now: float) -> None:
        """Record one entry in the moving window (ignored while the window is full)."""
        if self.full_until(key, limit, now) is not None:
            return
        entries = self.moving.get(key)
        if entries is None or entries.maxlen != limit.amount:
            if len(self.moving) >= base.PRUNE_AT:
                self._prune_moving(now)
            entries = self.moving[key] = deque(entries or (), maxlen=limit.amount)
        entries.append(now)

    def _prune_moving(self, now: float) -> None:
        # Entries older than a day can no longer fill any window the service configures.
        self.moving = {k: v for k, v in self.moving.items() if v and v[-1] > now - 86_400}
        if len(self.moving) >= base.PRUNE_AT:
            self.moving = {}

    def check_and_hit(
        self, checks: Sequence[Window], hits: Sequence[Window], now: float
    ) -> tuple[Decision | None, Decision | None]:
        """``RateLimiter.check_and_hit`` on these windows (its docstring)."""
        for key, limit in checks:
            until = self.full_until(key, limit, now)
            if until is not None:
                return Decision(False, limit.amount, 0, until), None
        for key, limit in hits:
            decision = self.hit(key, limit, now)
            if not decision.allowed:
                return None, decision
        return None, None

    def clear(self) -> None:
        self.fixed = {}
        self.moving = {}
