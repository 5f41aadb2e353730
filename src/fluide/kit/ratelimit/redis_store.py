"""The windows in Redis, shared by every process: one Lua script per operation (atomic on the
server, one round trip), and the fall-back state when Redis does not answer.

Layout (the ``limits`` library's, see ``base``): ``<prefix>LIMITER/<ids…>/<amount>/<n>/<unit>``
is a moving window's list of timestamps (newest first, trimmed to the limit), and the same key
plus ``/<window start>`` is a fixed window's integer counter. Use one Redis (not Redis Cluster:
``check_and_hit``'s keys would span slots).

Every method returns ``NO_ANSWER`` when Redis is unreachable: the caller decides in memory
instead (``memory.MemoryWindows``: fail open, see ``limiter``). After a failure Redis is not
asked again for ``RETRY_SECONDS`` (one caller probes then), so a dead Redis costs one timeout
per second, not one per request; the outage is logged once, as a warning.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fluide.kit.ratelimit.base import Decision, Limit, counted, window_start
from fluide.kit.ratelimit.memory import Window

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("fluide.ratelimit")

# After Redis failed, how long every caller uses memory before one of them tries Redis again.
RETRY_SECONDS = 1.0
# Redis socket timeouts: a dead or unreachable Redis must cost milliseconds, not a hang.
REDIS_TIMEOUT_SECONDS = 0.5

# What the methods return when Redis did not answer (not configured, or unreachable).
NO_ANSWER: Any = object()

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


class Script:
    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()


INCR, LOOK, RECORD, BATCH = Script(_INCR), Script(_LOOK), Script(_RECORD), Script(_BATCH)


def is_noscript(exc: BaseException) -> bool:
    from redis.exceptions import NoScriptError

    return isinstance(exc, NoScriptError)


class RedisWindows:
    """Fixed and moving windows in the Redis at ``url``, every key under ``prefix``."""

    def __init__(self, url: str, prefix: str) -> None:
        self.url = url.removeprefix("async+")
        self.prefix = prefix
        self.client: Redis | None = None
        self.down = False
        self._retry_at = 0.0

    # ---- connection and outages ----------------------------------------------------------

    def connect(self) -> Redis | None:
        """The client when Redis should be asked now; None during an outage."""
        if self.down:
            now = time.monotonic()
            if now < self._retry_at:
                return None
            self._retry_at = now + RETRY_SECONDS  # this caller probes; the others keep waiting
        if self.client is None:
            from redis.asyncio import Redis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            self.client = Redis.from_url(
                self.url,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                # One immediate retry (a pooled connection a Redis restart cut), no back-off:
                # redis-py's default would hold a request for seconds on an unreachable Redis.
                retry=Retry(NoBackoff(), 1),
            )
        return self.client

    def failed(self, exc: BaseException) -> None:
        self._retry_at = time.monotonic() + RETRY_SECONDS
        if not self.down:
            self.down = True
            log.warning(
                "rate-limit storage unreachable; using in-process limits",
                extra={"error_type": type(exc).__name__},
            )

    def answered(self) -> None:
        if self.down:
            self.down = False
            log.warning("rate-limit storage reachable again; limits are shared")

    async def call(self, script: Script, keys: list[str], args: list[Any]) -> Any:
        """Run one script; ``NO_ANSWER`` when Redis is unreachable."""
        client = self.connect()
        if client is None:
            return NO_ANSWER
        try:
            try:
                result = await client.evalsha(script.sha, len(keys), *keys, *args)
            except Exception as exc:
                if not is_noscript(exc):
                    raise
                # A restarted Redis forgot the script: EVAL sends it (and caches it) once.
                result = await client.eval(script.source, len(keys), *keys, *args)
        except Exception as exc:
            self.failed(exc)
            return NO_ANSWER
        self.answered()
        return result

    # ---- the windows (keys without the prefix, as ``MemoryWindows`` takes them) --------------

    async def incr(self, key: str, start: int, n: int, period: int) -> Any:
        """Add ``n`` hits to the fixed window starting at ``start``: the new count."""
        return await self.call(INCR, [f"{self.prefix}{key}/{start}"], [n, period])

    async def hit(self, key: str, limit: Limit, now: float) -> Decision | Any:
        start = window_start(now, limit.period)
        count = await self.incr(key, start, 1, limit.period)
        return count if count is NO_ANSWER else counted(limit, int(count), start)

    async def full_until(self, key: str, limit: Limit, now: float) -> float | Any | None:
        entry = await self.call(LOOK, [f"{self.prefix}{key}"], [limit.amount, now - limit.period])
        if entry is NO_ANSWER or entry is None:
            return entry
        return float(entry) + limit.period

    async def record(self, key: str, limit: Limit, now: float) -> Any:
        """Record one entry in the moving window (ignored while full); ``NO_ANSWER`` or 0/1."""
        args = [repr(now), limit.amount, limit.period]
        return await self.call(RECORD, [f"{self.prefix}{key}"], args)

    async def check_and_hit(
        self, checks: Sequence[Window], hits: Sequence[Window], now: float
    ) -> tuple[Decision | None, Decision | None] | Any:
        """``RateLimiter.check_and_hit`` on these windows, one script (one round trip)."""
        starts = [window_start(now, limit.period) for _, limit in hits]
        keys = [f"{self.prefix}{key}" for key, _ in checks]
        keys += [f"{self.prefix}{key}/{s}" for (key, _), s in zip(hits, starts, strict=True)]
        args: list[Any] = [repr(now), len(checks)]
        for _, limit in (*checks, *hits):
            args += [limit.amount, limit.period]
        result = await self.call(BATCH, keys, args) if keys else [0]
        if result is NO_ANSWER:
            return result
        kind = int(result[0])
        if kind == 1:
            limit = checks[int(result[1]) - 1][1]
            return Decision(False, limit.amount, 0, float(result[2]) + limit.period), None
        if kind == 2:
            j = int(result[1]) - 1
            return None, counted(hits[j][1], int(result[2]), starts[j])
        return None, None

    async def incr_many(self, client: Redis, batch: Sequence[tuple[str, int, int]]) -> list[Any]:
        """``INCRBY`` many counters in one pipelined round trip on ``client`` (``connect()``):
        (key with its window start, hits, period) each. Raises when Redis fails."""
        for attempt in (1, 2):
            pipe = client.pipeline(transaction=False)
            for key, n, period in batch:
                pipe.evalsha(INCR.sha, 1, f"{self.prefix}{key}", n, period)
            results: list[Any] = await pipe.execute(raise_on_error=False)
            errors = [r for r in results if isinstance(r, Exception)]
            if not errors:
                return results
            if attempt == 1 and all(is_noscript(e) for e in errors):
                await client.script_load(INCR.source)  # a restarted Redis forgot the script
                continue
            raise errors[0]
        raise AssertionError("unreachable")

    async def reset(self) -> None:
        """Delete every key under this prefix."""
        client = self.connect()
        if client is None:
            return
        try:
            keys = [key async for key in client.scan_iter(match=f"{self.prefix}*", count=1000)]
            for i in range(0, len(keys), 500):
                await client.delete(*keys[i : i + 500])
        except Exception as exc:
            self.failed(exc)

    async def aclose(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.aclose()
