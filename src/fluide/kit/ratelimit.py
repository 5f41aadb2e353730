"""Rate limits: in this process by default, shared by every process through Redis when configured.

Two window shapes, both keyed by a limit in ``limits`` notation ("600/minute") and a few ids:

- ``hit``: a **fixed, clock-aligned window** counter. Every process agrees on the window's start
  (wall clock), so the end is known without asking the storage: one call, one round trip.
- ``exceeded`` / ``count_failure``: a **moving window** of timestamps, for lock-outs after failed
  attempts (``exceeded`` only looks; ``count_failure`` records).
- ``check_and_hit``: both at once for the token exchange, in one Redis round trip.
- ``shared_window``: a fixed window decided in this process and synchronised with Redis in the
  background, for the per-key product limit on the hot path (``SharedWindow``).

Redis layout (unchanged from the ``limits`` library's, so processes of the previous release
share the counters during a rolling deploy): ``<prefix>LIMITER/<ids…>/<amount>/<n>/<unit>`` is
the moving window's list of timestamps (newest first, trimmed to the limit), and the same key
plus ``/<window start>`` is a fixed window's integer counter. Each operation is one Lua script,
so it is atomic on the server. Use one Redis (not Redis Cluster: ``check_and_hit``'s keys would
span slots).

**Fail open.** When Redis is unreachable the limits fall back to this process's memory (logged
once per outage, as a warning), rather than turning requests into 500s: they then hold per
process, not across processes. After a failure Redis is not asked again for
``RETRY_SECONDS`` (one caller probes then), so a dead Redis costs one timeout per second, not one
per request. Counts taken in memory meanwhile stay in memory; the shared windows' unsynchronised
hits are added to Redis once it answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from limits import RateLimitItem, parse

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("fluide.ratelimit")

# After Redis failed, how long every caller uses memory before one of them tries Redis again.
RETRY_SECONDS = 1.0
# Redis socket timeouts: a dead or unreachable Redis must cost milliseconds, not a hang.
REDIS_TIMEOUT_SECONDS = 0.5
# Default period of the shared windows' background synchronisation (FLUIDE_RATE_LIMIT_SYNC_SECONDS).
DEFAULT_SYNC_SECONDS = 0.02
# Entries kept in memory before expired ones are dropped (bounded memory under a key flood).
_PRUNE_AT = 50_000

# What ``RateLimiter._call`` returns when Redis did not answer (not configured, or unreachable).
NO_ANSWER: Any = object()
# A check, or a hit: a limit in ``limits`` notation and the ids it is counted under.
LimitIds = tuple[str, tuple[str, ...]]


@lru_cache(maxsize=64)
def parse_limit(text: str) -> RateLimitItem:
    return parse(text)


@lru_cache(maxsize=64)
def _key_tail(item: RateLimitItem) -> str:
    return f"{item.amount}/{item.multiples}/{item.GRANULARITY.name}"


def key_for(item: RateLimitItem, ids: tuple[str, ...]) -> str:
    """``item.key_for(*ids)`` for string ids (the same key, so counters stay shared with the
    ``limits`` layout), without re-formatting the limit's part on every call."""
    return f"{item.namespace}/{'/'.join(ids)}/{_key_tail(item)}"


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


# ---- Redis scripts ----------------------------------------------------------------------------

# Fixed window: add ARGV[1] (0 reads) and return the new count; the first write sets the expiry.
_INCR = """
local c = redis.call('INCRBY', KEYS[1], ARGV[1])
if c == tonumber(ARGV[1]) then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return c
"""

# Moving window, look only: the timestamp that keeps the window full (ARGV[1] = limit,
# ARGV[2] = now - period), or nil when a slot is free.
_LOOK = """
local e = redis.call('LINDEX', KEYS[1], tonumber(ARGV[1]) - 1)
if e and tonumber(e) > tonumber(ARGV[2]) then return e end
return false
"""

# Moving window, record one entry unless the window is already full
# (ARGV: now, limit, period in whole seconds).
_RECORD = """
local limit = tonumber(ARGV[2])
local e = redis.call('LINDEX', KEYS[1], limit - 1)
if e and tonumber(e) > tonumber(ARGV[1]) - tonumber(ARGV[3]) then return 0 end
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, limit - 1)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""

# check_and_hit. KEYS: the checks' lists, then the hits' counters. ARGV: now, number of checks,
# then (limit, period) per check, then (limit, period) per hit. Returns {0} when everything
# passed, {1, i, timestamp} for the first full check (nothing is counted then), or {2, j, count}
# for the first refused hit (the hits before it, and it, are counted; those after it are not).
_BATCH = """
local now = tonumber(ARGV[1])
local nchecks = tonumber(ARGV[2])
local a = 3
for i = 1, nchecks do
  local limit = tonumber(ARGV[a])
  local e = redis.call('LINDEX', KEYS[i], limit - 1)
  if e and tonumber(e) > now - tonumber(ARGV[a + 1]) then return {1, i, e} end
  a = a + 2
end
for j = nchecks + 1, #KEYS do
  local c = redis.call('INCR', KEYS[j])
  if c == 1 then redis.call('EXPIRE', KEYS[j], ARGV[a + 1]) end
  if c > tonumber(ARGV[a]) then return {2, j - nchecks, c} end
  a = a + 2
end
return {0}
"""


class _Script:
    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()


INCR, LOOK, RECORD, BATCH = _Script(_INCR), _Script(_LOOK), _Script(_RECORD), _Script(_BATCH)


def _is_noscript(exc: BaseException) -> bool:
    from redis.exceptions import NoScriptError

    return isinstance(exc, NoScriptError)


# ---- in-process storage -----------------------------------------------------------------------


class _Memory:
    """This process's counters: fixed windows and moving windows, plain dicts, no awaits."""

    def __init__(self) -> None:
        self.fixed: dict[str, list[int]] = {}  # key → [window start, count]
        self.moving: dict[str, deque[float]] = {}  # key → newest timestamps, at most `limit`

    def incr(self, key: str, start: int) -> int:
        entry = self.fixed.get(key)
        if entry is None or entry[0] != start:
            if entry is None and len(self.fixed) >= _PRUNE_AT:
                self.fixed = {k: v for k, v in self.fixed.items() if v[0] >= start}
                if len(self.fixed) >= _PRUNE_AT:
                    self.fixed = {}
            entry = self.fixed[key] = [start, 0]
        entry[1] += 1
        return entry[1]

    def full_until(self, key: str, limit: int, period: float, now: float) -> float | None:
        """When the moving window frees a slot, if it is full now."""
        entries = self.moving.get(key)
        if entries is None or len(entries) < limit:
            return None
        oldest = entries[-limit]
        return oldest + period if oldest > now - period else None

    def record(self, key: str, limit: int, period: float, now: float) -> None:
        if self.full_until(key, limit, period, now) is not None:
            return
        entries = self.moving.get(key)
        if entries is None or entries.maxlen != limit:
            if len(self.moving) >= _PRUNE_AT:
                self._prune_moving(now)
            entries = self.moving[key] = deque(entries or (), maxlen=limit)
        entries.append(now)

    def _prune_moving(self, now: float) -> None:
        # Entries older than a day can no longer fill any window the service configures.
        self.moving = {k: v for k, v in self.moving.items() if v and v[-1] > now - 86_400}
        if len(self.moving) >= _PRUNE_AT:
            self.moving = {}

    def clear(self) -> None:
        self.fixed = {}
        self.moving = {}


# ---- the limiter ------------------------------------------------------------------------------


class RateLimiter:
    """Rate limits in memory, or shared through Redis with a fall-back to memory (module doc).

    ``prefix`` starts every Redis key (``FLUIDE_REDIS_PREFIX``: deployments sharing a Redis
    keep their counters apart). ``sync_seconds`` is the period of the background task that sends
    the shared windows' (``shared_window``) hits to Redis and reads back their counts; ``start``
    runs it and ``aclose`` stops it after a last flush.
    """

    def __init__(
        self,
        redis_url: str | None = None,
        prefix: str = "fluide:",
        sync_seconds: float = DEFAULT_SYNC_SECONDS,
    ) -> None:
        self.prefix = prefix
        self.sync_seconds = sync_seconds
        self._memory = _Memory()
        self._url = redis_url.removeprefix("async+") if redis_url else None
        self._client: Redis | None = None
        self._down = False
        self._retry_at = 0.0
        self._windows: dict[tuple[str, tuple[str, ...]], SharedWindow] = {}
        # check key → until when it was found clear (check_and_hit_shared)
        self._clear_until: dict[str, float] = {}
        self._checking: dict[tuple[str, ...], asyncio.Future[Decision | None]] = {}
        self._failures = 0  # failures this process counted (a check in flight must not outlive one)
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._sleeping = False

    @property
    def shared(self) -> bool:
        """True when Redis is configured (whether or not it answers right now)."""
        return self._url is not None

    # ---- Redis plumbing ----------------------------------------------------------------------

    def _redis(self) -> Redis | None:
        """The client when Redis should be asked now; None in memory mode or during an outage."""
        if self._url is None:
            return None
        if self._down:
            now = time.monotonic()
            if now < self._retry_at:
                return None
            self._retry_at = now + RETRY_SECONDS  # this caller probes; the others keep waiting
        if self._client is None:
            from redis.asyncio import Redis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            self._client = Redis.from_url(
                self._url,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                # One immediate retry (a pooled connection a Redis restart cut), no back-off:
                # redis-py's default would hold a request for seconds on an unreachable Redis.
                retry=Retry(NoBackoff(), 1),
            )
        return self._client

    def _failed(self, exc: BaseException) -> None:
        self._retry_at = time.monotonic() + RETRY_SECONDS
        if not self._down:
            self._down = True
            log.warning(
                "rate-limit storage unreachable; using in-process limits",
                extra={"error_type": type(exc).__name__},
            )

    def _answered(self) -> None:
        if self._down:
            self._down = False
            log.warning("rate-limit storage reachable again; limits are shared")

    async def _eval(self, client: Redis, script: _Script, keys: list[str], args: list[Any]) -> Any:
        try:
            return await client.evalsha(script.sha, len(keys), *keys, *args)
        except Exception as exc:
            if not _is_noscript(exc):
                raise
            # A restarted Redis forgot the script: EVAL sends it (and caches it) once.
            return await client.eval(script.source, len(keys), *keys, *args)

    async def _call(self, script: _Script, keys: list[str], args: list[Any]) -> Any:
        """Run one script on Redis; ``NO_ANSWER`` (the caller falls back to memory) when Redis
        is not configured or unreachable."""
        client = self._redis()
        if client is None:
            return NO_ANSWER
        try:
            result = await self._eval(client, script, keys, args)
        except Exception as exc:
            self._failed(exc)
            return NO_ANSWER
        self._answered()
        return result

    def _key(self, item: RateLimitItem, ids: tuple[str, ...]) -> str:
        return f"{self.prefix}{key_for(item, ids)}"

    # ---- the API -----------------------------------------------------------------------------

    async def hit(self, limit: str, *ids: str) -> Decision:
        """Count one request in a clock-aligned fixed window: one script (one round trip)."""
        item = parse_limit(limit)
        period = int(item.get_expiry())
        start = int(time.time()) // period * period
        key = f"{key_for(item, ids)}/{start}"
        count = await self._call(INCR, [f"{self.prefix}{key}"], [1, period])
        if count is NO_ANSWER:
            count = self._memory.incr(key, start)
        return Decision(count <= item.amount, item.amount, item.amount - count, start + period)

    async def exceeded(self, limit: str, *ids: str) -> Decision | None:
        """The lock-out if the moving window is full (looks only, counts nothing)."""
        item = parse_limit(limit)
        period = item.get_expiry()
        now = time.time()
        until: float | None
        entry = await self._call(LOOK, [self._key(item, ids)], [item.amount, now - period])
        if entry is NO_ANSWER:
            until = self._memory.full_until(key_for(item, ids), item.amount, period, now)
        else:
            until = None if entry is None else float(entry) + period
        return None if until is None else Decision(False, item.amount, 0, until)

    async def count_failure(self, limit: str, *ids: str) -> None:
        """Record one entry in the moving window (ignored while the window is full)."""
        item = parse_limit(limit)
        period = int(item.get_expiry())
        now = time.time()
        key = key_for(item, ids)
        self._clear_until.pop(key, None)  # this process sees its own failures at once
        self._failures += 1
        done = await self._call(RECORD, [self._key(item, ids)], [repr(now), item.amount, period])
        if done is NO_ANSWER:
            self._memory.record(key, item.amount, period, now)

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
        check_items = [(parse_limit(limit), ids) for limit, ids in checks]
        hit_items = [(parse_limit(limit), ids) for limit, ids in hits]
        starts = [
            int(now) // int(item.get_expiry()) * int(item.get_expiry()) for item, _ in hit_items
        ]
        if self._url is None:  # memory mode: no Redis keys or script arguments to build
            return self._check_and_hit_memory(check_items, hit_items, starts, now)
        keys = [self._key(item, ids) for item, ids in check_items]
        keys += [
            f"{self._key(item, ids)}/{start}"
            for (item, ids), start in zip(hit_items, starts, strict=True)
        ]
        args: list[Any] = [repr(now), len(check_items)]
        for item, _ in check_items:
            args += [item.amount, item.get_expiry()]
        for item, _ in hit_items:
            args += [item.amount, int(item.get_expiry())]
        result = await self._call(BATCH, keys, args) if keys else [0]
        if result is NO_ANSWER:
            return self._check_and_hit_memory(check_items, hit_items, starts, now)
        kind = int(result[0])
        if kind == 1:
            item = check_items[int(result[1]) - 1][0]
            return Decision(False, item.amount, 0, float(result[2]) + item.get_expiry()), None
        if kind == 2:
            j = int(result[1]) - 1
            item, count = hit_items[j][0], int(result[2])
            reset_at = starts[j] + int(item.get_expiry())
            return None, Decision(False, item.amount, item.amount - count, reset_at)
        return None, None

    def _check_and_hit_memory(
        self,
        checks: list[tuple[RateLimitItem, tuple[str, ...]]],
        hits: list[tuple[RateLimitItem, tuple[str, ...]]],
        starts: list[int],
        now: float,
    ) -> tuple[Decision | None, Decision | None]:
        memory = self._memory
        for item, ids in checks:
            until = memory.full_until(key_for(item, ids), item.amount, item.get_expiry(), now)
            if until is not None:
                return Decision(False, item.amount, 0, until), None
        for (item, ids), start in zip(hits, starts, strict=True):
            count = memory.incr(f"{key_for(item, ids)}/{start}", start)
            if count > item.amount:
                reset_at = start + int(item.get_expiry())
                return None, Decision(False, item.amount, item.amount - count, reset_at)
        return None, None

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
        if self._url is None:
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
            decision = await self.shared_window(limit, *ids[:-1]).hit(ids[-1])
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
            if len(clear) >= _PRUNE_AT:
                now = time.time()
                self._clear_until = clear = {k: t for k, t in clear.items() if t > now}
            until = time.time() + self.sync_seconds
            for key in keys:
                clear[key] = until
        return locked

    def shared_window(self, limit: str, *ids: str) -> SharedWindow:
        """The fixed-window limit per key (``ids`` then the key) decided in this process and
        synchronised with Redis in the background (see ``SharedWindow``): one per limit and
        ids in a limiter, since they count into the same Redis keys."""
        window = self._windows.get((limit, ids))
        if window is None:
            window = self._windows[limit, ids] = SharedWindow(self, limit, ids)
        return window

    async def reset(self) -> None:
        """Forget every count (tests; an operator lifting limits): memory and this prefix's keys."""
        self._memory.clear()
        self._clear_until = {}
        self._failures += 1
        for window in self._windows.values():
            window.forget()
        client = self._redis()
        if client is None:
            return
        try:
            keys = [key async for key in client.scan_iter(match=f"{self.prefix}*", count=1000)]
            for i in range(0, len(keys), 500):
                await client.delete(*keys[i : i + 500])
        except Exception as exc:
            self._failed(exc)

    # ---- background synchronisation of the shared windows -----------------------------------

    def start(self) -> None:
        """Run the shared windows' synchronisation (with Redis configured; call in the loop)."""
        if self._url is None or self._task is not None:
            return
        self._closing = False
        self._task = asyncio.create_task(self._sync_loop(), name="fluide-ratelimit-sync")

    async def aclose(self) -> None:
        """Stop the synchronisation, flush the pending counts a last time, close the client."""
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
        if self._windows:
            await self.flush()
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.aclose()

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
        """Add every shared window's unsynchronised hits to Redis, one pipelined round trip, and
        read back the global counts. Returns the number of keys written (0 if none or failed)."""
        batch: list[tuple[SharedWindow, str, _Slot, int, int]] = []
        for window in self._windows.values():
            if window.dirty:
                batch.extend(window.take_dirty())
        if not batch:
            return 0
        client = self._redis()
        if client is None:
            _give_back(batch)
            return 0
        try:
            counts = await self._pipeline(client, batch)
        except BaseException as exc:
            _give_back(batch)
            if not isinstance(exc, Exception):
                raise
            self._failed(exc)
            return 0
        self._answered()
        now = time.time()
        for (window, _key, slot, start, n), count in zip(batch, counts, strict=True):
            if slot.start == start:
                slot.inflight -= n
                slot.observe(int(count), now, window.sync)
        return len(batch)

    async def _pipeline(
        self, client: Redis, batch: list[tuple[SharedWindow, str, _Slot, int, int]]
    ) -> list[Any]:
        for attempt in (1, 2):
            pipe = client.pipeline(transaction=False)
            for window, key, _slot, start, n in batch:
                pipe.evalsha(INCR.sha, 1, window.redis_key(key, start), n, window.period)
            results: list[Any] = await pipe.execute(raise_on_error=False)
            errors = [r for r in results if isinstance(r, Exception)]
            if not errors:
                return results
            if attempt == 1 and all(_is_noscript(e) for e in errors):
                await client.script_load(INCR.source)  # a restarted Redis forgot the script
                continue
            raise errors[0]
        raise AssertionError("unreachable")


def _give_back(batch: list[tuple[SharedWindow, str, _Slot, int, int]]) -> None:
    """A sync that did not happen: its counts are pending again (sent with the next one)."""
    for window, key, slot, start, n in batch:
        if slot.start == start:
            slot.inflight -= n
            slot.pending += n
            window.mark(key, slot)


# ---- shared windows ---------------------------------------------------------------------------


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


class SharedWindow:
    """A fixed-window limit per key, shared by every process through Redis, decided locally.

    Each process counts the hits it admits in memory; the limiter's background task adds them
    to the key's Redis counter every ``sync_seconds`` (one ``INCRBY`` per key with new hits,
    all keys in one pipelined round trip) and reads back the global count. A hit is decided
    from ``last known global count + this process's hits not yet acknowledged``, with no round
    trip, when all of these hold:

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
    fail open, logged once by the limiter); the hits counted meanwhile reach Redis when it
    answers again.
    """

    def __init__(self, limiter: RateLimiter, limit: str, ids: tuple[str, ...]) -> None:
        item = parse_limit(limit)
        self.limiter = limiter
        self.item = item
        self.ids = ids
        self.amount = int(item.amount)
        self.period = int(item.get_expiry())
        self.sync = limiter.sync_seconds
        self.max_age = 2 * limiter.sync_seconds
        self.busy_max_age = 10 * limiter.sync_seconds
        self._slots: dict[str, _Slot] = {}
        self.dirty: dict[str, _Slot] = {}

    def redis_key(self, key: str, start: int) -> str:
        return f"{self.limiter.prefix}{key_for(self.item, (*self.ids, key))}/{start}"

    def mark(self, key: str, slot: _Slot) -> None:
        self.dirty[key] = slot

    def take_dirty(self) -> list[tuple[SharedWindow, str, _Slot, int, int]]:
        dirty, self.dirty = self.dirty, {}
        out = []
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
        start = int(now) // period * period
        slot = self._slots.get(key)
        if slot is None:
            if len(self._slots) >= _PRUNE_AT:
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
        count = await self.limiter._call(INCR, [self.redis_key(key, start)], [n, period])
        if slot.start != start:  # the window turned while waiting: decide on what Redis said
            if count is NO_ANSWER:
                return Decision(True, amount, amount - 1, start + period)
            return Decision(int(count) <= amount, amount, amount - int(count), start + period)
        slot.inflight -= n
        if count is not NO_ANSWER:
            count = int(count)
            slot.observe(count, time.time(), self.sync)
            return Decision(count <= amount, amount, amount - count, start + period)
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
        if len(slots) >= _PRUNE_AT:
            # Bounded memory beats exact counts: a flood of distinct keys in one window (e.g.
            # well-formed fake keys on the exposure path) must not grow the dict forever.
            slots = {k: s for k, s in slots.items() if s.pending or s.inflight}
        self._slots = slots
