"""``RateLimiter``: the one entry to the rate limits, in this process or shared through Redis.

Two window shapes, each with exactly one implementation per storage (``memory.MemoryWindows``,
``redis_store.RedisWindows``), keyed by a limit ("600/minute", see ``base``) and a few ids:

- ``hit``: a **fixed, clock-aligned window** counter: one call, one round trip.
- ``exceeded`` / ``count_failure``: a **moving window** of timestamps, for lock-outs after failed
  attempts (``exceeded`` only looks; ``count_failure`` records).
- ``check_and_hit``: both at once, in one Redis round trip.
- ``check_and_hit_shared`` / ``shared_window``: the fixed windows decided in this process and
  synchronised with Redis in the background (``shared.SharedWindow``), for the hot paths.

**Fail open.** When Redis is unreachable the limits fall back to this process's memory (logged
once per outage, as a warning), rather than turning requests into 500s: they then hold per
process, not across processes. Counts taken in memory meanwhile stay in memory; the shared
windows' unsynchronised hits are added to Redis once it answers again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from fluide.kit.ratelimit import base
from fluide.kit.ratelimit.base import Decision, LimitIds, key_for, parse_limit
from fluide.kit.ratelimit.memory import MemoryWindows, Window
from fluide.kit.ratelimit.redis_store import NO_ANSWER, RedisWindows
from fluide.kit.ratelimit.shared import DEFAULT_SYNC_SECONDS, SharedWindow, SharedWindows


def _windows(pairs: Sequence[LimitIds]) -> list[Window]:
    out = []
    for limit, ids in pairs:
        parsed = parse_limit(limit)
        out.append((key_for(parsed, ids), parsed))
    return out


class RateLimiter:
    """Rate limits in memory, or shared through Redis with a fall-back to memory (module doc).

    ``prefix`` starts every Redis key (``FLUIDE_REDIS_PREFIX``: deployments sharing a Redis
    keep their counters apart). ``sync_seconds`` is the period of the background task that sends
    the shared windows' hits to Redis and reads back their counts; ``start`` runs it and
    ``aclose`` stops it after a last flush.
    """

    def __init__(
        self,
        redis_url: str | None = None,
        prefix: str = "fluide:",
        sync_seconds: float = DEFAULT_SYNC_SECONDS,
    ) -> None:
        self.prefix = prefix
        self.sync_seconds = sync_seconds
        self.memory = MemoryWindows()
        self.redis = RedisWindows(redis_url, prefix) if redis_url else None
        self._shared = SharedWindows(self.redis, sync_seconds) if self.redis else None
        # check key → until when it was found clear (check_and_hit_shared)
        self._clear_until: dict[str, float] = {}
        self._checking: dict[tuple[str, ...], asyncio.Future[Decision | None]] = {}
        self._failures = 0  # failures this process counted (a check in flight must not outlive one)

    @property
    def shared(self) -> bool:
        """True when Redis is configured (whether or not it answers right now)."""
        return self.redis is not None

    async def hit(self, limit: str, *ids: str) -> Decision:
        """Count one request in a clock-aligned fixed window: one script (one round trip)."""
        parsed, now = parse_limit(limit), time.time()
        key = key_for(parsed, ids)
        if self.redis is not None:
            decision = await self.redis.hit(key, parsed, now)
            if decision is not NO_ANSWER:
                return decision
        return self.memory.hit(key, parsed, now)

    async def exceeded(self, limit: str, *ids: str) -> Decision | None:
        """The lock-out if the moving window is full (looks only, counts nothing)."""
        parsed, now = parse_limit(limit), time.time()
        key = key_for(parsed, ids)
        until = NO_ANSWER
        if self.redis is not None:
            until = await self.redis.full_until(key, parsed, now)
        if until is NO_ANSWER:
            until = self.memory.full_until(key, parsed, now)
        return None if until is None else Decision(False, parsed.amount, 0, until)

    async def count_failure(self, limit: str, *ids: str) -> None:
        """Record one entry in the moving window (ignored while the window is full)."""
        parsed, now = parse_limit(limit), time.time()
        key = key_for(parsed, ids)
        self._clear_until.pop(key, None)  # this process sees its own failures at once
        self._failures += 1
        if self.redis is None or await self.redis.record(key, parsed, now) is NO_ANSWER:
            self.memory.record(key, parsed, now)

    async def check_and_hit(
        self, checks: Sequence[LimitIds], hits: Sequence[LimitIds]
    ) -> tuple[Decision | None, Decision | None]:
        """Look at lock-outs and spend budgets at once: ``(first full check, first refused hit)``.

        ``checks`` are moving windows that are only looked at, like ``exceeded`` (what
        ``count_failure`` records); ``hits`` are fixed windows that are counted, like ``hit``.
        In order: when a check is full, it is returned and nothing is counted; otherwise the
        hits are counted one after the other up to and including the first refused one, which
        is returned (the later hits are not counted). ``(None, None)``: all clear, all counted.

        One Lua script, so one Redis round trip and atomic; in memory, no await at all.
        """
        now = time.time()
        check_windows, hit_windows = _windows(checks), _windows(hits)
        if self.redis is not None:
            result = await self.redis.check_and_hit(check_windows, hit_windows, now)
            if result is not NO_ANSWER:
                return result
        return self.memory.check_and_hit(check_windows, hit_windows, now)

    async def check_and_hit_shared(
        self, checks: Sequence[LimitIds], hits: Sequence[LimitIds]
    ) -> tuple[Decision | None, Decision | None]:
        """``check_and_hit`` for a hot path, mostly without a Redis round trip.

        In memory mode it is ``check_and_hit``. With Redis, a check (lock-out) found clear is
        taken as clear for ``sync_seconds`` (a failure this process counts ends that at once),
        and each hit goes through the ``SharedWindow`` of its limit and leading ids (the last
        id is the window's key; the same Redis counters as ``check_and_hit``). So a lock-out
        engaged through another process applies here within ``sync_seconds`` (20 ms), and the
        budgets have ``SharedWindow``'s bounds; the order and the "nothing counted after a
        refusal" rule are ``check_and_hit``'s.
        """
        if self._shared is None:
            return await self.check_and_hit(checks, hits)
        now = time.time()
        clear = self._clear_until
        keys = [key_for(parse_limit(limit), ids) for limit, ids in checks]
        unknown = [i for i, key in enumerate(keys) if clear.get(key, 0.0) <= now]
        if unknown:
            # One look at Redis at a time per set of checks: the requests that find it under way
            # wait for its answer instead of each asking.
            flight = tuple(keys[i] for i in unknown)
            pending = self._checking.get(flight)
            if pending is None:
                pending = asyncio.ensure_future(self._look([checks[i] for i in unknown], flight))
                self._checking[flight] = pending
            locked = await asyncio.shield(pending)
            if locked is not None:
                return locked, None
        for limit, ids in hits:
            decision = await self._shared.get(limit, ids[:-1]).hit(ids[-1])
            if not decision.allowed:
                return None, decision
        return None, None

    async def _look(self, checks: list[LimitIds], keys: tuple[str, ...]) -> Decision | None:
        failures = self._failures
        try:
            locked, _ = await self.check_and_hit(checks, ())
        finally:
            self._checking.pop(keys, None)
        if locked is None and failures == self._failures:
            clear = self._clear_until
            if len(clear) >= base.PRUNE_AT:
                now = time.time()
                self._clear_until = clear = {k: t for k, t in clear.items() if t > now}
            until = time.time() + self.sync_seconds
            for key in keys:
                clear[key] = until
        return locked

    def shared_window(self, limit: str, *ids: str) -> SharedWindow:
        """The fixed-window limit per key (``ids`` then the key) decided in this process and
        synchronised with Redis in the background (``SharedWindow``); Redis must be configured."""
        if self._shared is None:
            raise RuntimeError("a shared window needs Redis (FLUIDE_REDIS_URL)")
        return self._shared.get(limit, ids)

    async def reset(self) -> None:
        """Forget every count (tests; an operator lifting limits): memory and this prefix's keys."""
        self.memory.clear()
        self._clear_until = {}
        self._failures += 1
        if self._shared is not None:
            self._shared.forget()
        if self.redis is not None:
            await self.redis.reset()

    def start(self) -> None:
        """Run the shared windows' synchronisation (with Redis configured; call in the loop)."""
        if self._shared is not None:
            self._shared.start()

    async def flush(self) -> int:
        """Send the shared windows' pending hits now (``SharedWindows.flush``)."""
        return 0 if self._shared is None else await self._shared.flush()

    async def aclose(self) -> None:
        """Stop the synchronisation, flush the pending counts a last time, close the client."""
        if self._shared is not None:
            await self._shared.stop()
        if self.redis is not None:
            await self.redis.aclose()
