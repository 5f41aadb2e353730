"""Fixed windows shared by every process through Redis, decided in this process: the per-key
product limit and the exchange's budgets on the hot path, with no round trip per request.

``SharedWindow`` decides; ``SharedWindows`` keeps one per (limit, ids) and runs the background
synchronisation that sends their hits to Redis (``RedisWindows``, the one Redis window: the
same counters as ``RateLimiter.hit``).
"""

from __future__ import annotations

import asyncio
import logging
import time

from fluide.kit.ratelimit import base
from fluide.kit.ratelimit.base import Decision, counted, key_for, parse_limit, window_start
from fluide.kit.ratelimit.redis_store import NO_ANSWER, RedisWindows

log = logging.getLogger("fluide.ratelimit")

# Default period of the shared windows' background synchronisation (FLUIDE_RATE_LIMIT_SYNC_SECONDS).
DEFAULT_SYNC_SECONDS = 0.02


class _Slot:
    """One key's current window, as this process knows it."""

    __slots__ = ("inflight", "known", "pending", "point", "rate", "seen_at", "start")

    def __init__(self, start: int) -> None:
        self.start = start
        self.known = -1  # global count at the last answer from Redis (-1: not asked yet)
        self.pending = 0  # hits admitted here and not yet sent
        self.inflight = 0  # hits sent and not yet acknowledged
        self.seen_at = 0.0  # when ``known`` was read
        self.rate = -1.0  # the key's global hits per second, from the answers (-1: unknown)
        self.point: tuple[int, float] | None = None  # (count, time) the rate is measured from

    def new_window(self, start: int) -> None:
        self.start = start
        self.known = -1
        self.pending = self.inflight = 0
        self.point = None  # the rate is kept: the next window's traffic is likely the same

    def observe(self, count: int, now: float, sync: float) -> None:
        """Redis answered ``count`` for this window now: learn it, and the key's global rate."""
        if count > self.known:
            self.known = count
        self.seen_at = now
        point = self.point
        if point is None:
            self.point = (count, now)
            return
        elapsed = now - point[1]
        if elapsed < sync / 4:  # too close to measure a rate
            return
        rate = max(0, count - point[0]) / elapsed
        # Rises at once, falls by halves: a burst is believed at once, a lull only slowly.
        self.rate = rate if rate > self.rate else (self.rate + rate) / 2
        self.point = (count, now)


# A batch of hits on their way to Redis: (window, key, slot, window start, hits).
Batch = list[tuple["SharedWindow", str, _Slot, int, int]]


class SharedWindow:
    """A fixed-window limit per key, shared by every process through Redis, decided locally.

    Each process counts the hits it admits in memory; the background task (``SharedWindows``)
    adds them to the key's Redis counter every ``sync_seconds`` (one ``INCRBY`` per key with
    new hits, all keys in one pipelined round trip) and reads back the global count. A hit is
    decided from ``last known global count + this process's hits not yet acknowledged``, with
    no round trip, when all of these hold:

    - the known count is fresh (see Bounds; a key busy in this process is re-read by every
      sync, so it stays fresh);
    - the key's global rate is known (measured between Redis answers);
    - the budget left exceeds the *margin*: twice the hits the whole cluster is expected to
      add before this process hears from Redis again, plus one.

    Otherwise (a key's first hit in a window or after a quiet spell, a small limit, the last
    hits before the limit) the hit goes to Redis at once and is decided on the global count,
    exactly like ``RateLimiter.hit``. So slow keys and small limits are exact, and a hot key
    costs no round trip until the last few hundred requests of its window.

    **Bounds.** The sync runs every ``sync_seconds`` (P). A process decides locally on a count
    at most P old while the key is busy here (plus the event loop's lag when it is saturated:
    the sync under way re-reads it; hard cap 10 P) and at most 2 P old when the key is quiet
    here (older: it asks Redis first). So once the shared counter reaches the limit, every
    process refuses the key within P (2 P if it was quiet); and a window admits beyond the limit
    at most what the other processes admitted in that blind time: ``processes × per-process
    rate × P`` (8 processes at 1,000 req/s each on one key, 20 ms: 160), and in practice none
    while the key's rate does not jump within a period (the margin covers it).
    ``X-RateLimit-Remaining`` is exact up to the same bound; ``X-RateLimit-Reset`` is the
    window's end, exact.

    Redis unreachable: the same arithmetic runs on this process's own hits (local-only limits,
    fail open, logged once by the store); the hits counted meanwhile reach Redis when it
    answers again.
    """

    def __init__(
        self, store: RedisWindows, limit: str, ids: tuple[str, ...], sync_seconds: float
    ) -> None:
        self.store = store
        self.limit = parse_limit(limit)
        self.ids = ids
        self.amount = self.limit.amount
        self.period = self.limit.period
        self.sync = sync_seconds
        self.max_age = 2 * sync_seconds
        self.busy_max_age = 10 * sync_seconds
        self._slots: dict[str, _Slot] = {}
        self.dirty: dict[str, _Slot] = {}

    def key(self, key: str) -> str:
        """The key's storage key (``base.key_for``), without the prefix or window start."""
        return key_for(self.limit, (*self.ids, key))

    def redis_key(self, key: str, start: int) -> str:
        return f"{self.store.prefix}{self.key(key)}/{start}"

    def mark(self, key: str, slot: _Slot) -> None:
        self.dirty[key] = slot

    def take_dirty(self) -> Batch:
        dirty, self.dirty = self.dirty, {}
        out: Batch = []
        for key, slot in dirty.items():
            n = slot.pending
            if n:
                slot.pending = 0
                slot.inflight += n
                out.append((self, key, slot, slot.start, n))
        return out

    def forget(self) -> None:
        self._slots = {}
        self.dirty = {}

    async def hit(self, key: str) -> Decision:
        now = time.time()
        period = self.period
        start = window_start(now, period)
        slot = self._slots.get(key)
        if slot is None:
            if len(self._slots) >= base.PRUNE_AT:
                self._prune(start)
            slot = self._slots[key] = _Slot(start)
        elif slot.start != start:
            slot.new_window(start)
        if slot.known >= 0:
            used = slot.known + slot.inflight + slot.pending
            amount = self.amount
            if used >= amount:  # counts only grow within a window: no need to ask
                return Decision(False, amount, 0, start + period)
            age = now - slot.seen_at
            # Hits the cluster may add before this process hears from Redis again, twice over.
            margin = 2.0 * slot.rate * (age + self.sync) + 1.0
            # How old a count may be: a key with hits on their way to Redis (busy here) is
            # re-read by the sync already under way, however late a busy event loop runs it;
            # a quiet key asks Redis once its count is older than two periods.
            fresh = age <= self.max_age or (
                (slot.pending or slot.inflight) and age <= self.busy_max_age
            )
            if fresh and slot.rate >= 0 and amount - used > margin:
                slot.pending += 1
                self.dirty[key] = slot
                return Decision(True, amount, amount - used - 1, start + period)
        return await self._hit_now(key, slot, start, now)

    async def _hit_now(self, key: str, slot: _Slot, start: int, now: float) -> Decision:
        """Send this hit (and the pending ones) to Redis and decide from the global count."""
        amount, period = self.amount, self.period
        n = slot.pending + 1
        slot.pending = 0
        slot.inflight += n
        count = await self.store.incr(self.key(key), start, n, period)
        if slot.start != start:  # the window turned while waiting: decide on what Redis said
            if count is NO_ANSWER:
                return Decision(True, amount, amount - 1, start + period)
            return counted(self.limit, int(count), start)
        slot.inflight -= n
        if count is not NO_ANSWER:
            count = int(count)
            slot.observe(count, time.time(), self.sync)
            return counted(self.limit, count, start)
        # Redis unreachable: decide on this process's own count; send it when Redis is back.
        if slot.known < 0:
            slot.known = 0
        slot.seen_at = now
        slot.pending += n
        self.dirty[key] = slot
        used = slot.known + slot.inflight + slot.pending
        if used > amount:
            slot.pending -= 1  # a refused hit is not counted
            return Decision(False, amount, 0, start + period)
        return Decision(True, amount, amount - used, start + period)

    def _prune(self, current: int) -> None:
        slots = {k: s for k, s in self._slots.items() if s.start == current or s.pending}
        if len(slots) >= base.PRUNE_AT:
            # Bounded memory beats exact counts: a flood of distinct keys in one window (e.g.
            # well-formed fake keys on the exposure path) must not grow the dict forever.
            slots = {k: s for k, s in slots.items() if s.pending or s.inflight}
        self._slots = slots


def _give_back(batch: Batch) -> None:
    """A sync that did not happen: its counts are pending again (sent with the next one)."""
    for window, key, slot, start, n in batch:
        if slot.start == start:
            slot.inflight -= n
            slot.pending += n
            window.mark(key, slot)


class SharedWindows:
    """The shared windows of one limiter, one per (limit, ids) since they count into the same
    Redis keys, and their background synchronisation every ``sync_seconds``."""

    def __init__(self, store: RedisWindows, sync_seconds: float) -> None:
        self.store = store
        self.sync_seconds = sync_seconds
        self.windows: dict[tuple[str, tuple[str, ...]], SharedWindow] = {}
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._sleeping = False

    def get(self, limit: str, ids: tuple[str, ...]) -> SharedWindow:
        window = self.windows.get((limit, ids))
        if window is None:
            window = SharedWindow(self.store, limit, ids, self.sync_seconds)
            self.windows[limit, ids] = window
        return window

    def forget(self) -> None:
        for window in self.windows.values():
            window.forget()

    def start(self) -> None:
        if self._task is None:
            self._closing = False
            self._task = asyncio.create_task(self._sync_loop(), name="fluide-ratelimit-sync")

    async def stop(self) -> None:
        """Stop the synchronisation and flush the pending counts a last time."""
        task, self._task = self._task, None
        self._closing = True
        if task is not None:
            if self._sleeping:
                task.cancel()  # a flush in progress is let finish: its batch is not sent twice
            try:
                await asyncio.wait_for(task, timeout=5)
            except asyncio.CancelledError:
                pass
            except Exception as exc:  # never block a shutdown
                log.warning(
                    "rate-limit sync did not stop", extra={"error_type": type(exc).__name__}
                )
        if self.windows:
            await self.flush()

    async def _sync_loop(self) -> None:
        # A fixed cadence (the period counts from one flush's start to the next), and one plain
        # timer per round: on a busy event loop every extra await is one more lap of lag.
        period = self.sync_seconds
        while True:
            started = time.monotonic()
            await self.flush()
            if self._closing:
                return
            self._sleeping = True
            try:
                await asyncio.sleep(max(0.0, period - (time.monotonic() - started)))
            finally:
                self._sleeping = False

    async def flush(self) -> int:
        """Add every window's unsynchronised hits to Redis, one pipelined round trip, and read
        back the global counts. Returns the number of keys written (0 if none or failed)."""
        batch: Batch = []
        for window in self.windows.values():
            if window.dirty:
                batch.extend(window.take_dirty())
        if not batch:
            return 0
        store = self.store
        client = store.connect()
        if client is None:
            _give_back(batch)
            return 0
        try:
            writes = [(f"{w.key(key)}/{start}", n, w.period) for w, key, _, start, n in batch]
            counts = await store.incr_many(client, writes)
        except BaseException as exc:
            _give_back(batch)
            if not isinstance(exc, Exception):
                raise
            store.failed(exc)
            return 0
        store.answered()
        now = time.time()
        for (window, _key, slot, start, n), count in zip(batch, counts, strict=True):
            if slot.start == start:
                slot.inflight -= n
                slot.observe(int(count), now, window.sync)
        return len(batch)
