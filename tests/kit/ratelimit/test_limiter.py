"""The rate limiter: one storage call per hit, the exchange's checks and hits in one call, the
decided-in-process look at lock-outs, and fail-open when Redis is unreachable. In memory and on
Redis."""

from __future__ import annotations

import asyncio
import logging
import time

import httpx
import pytest

from fluide.app import App
from fluide.kit.ratelimit import RateLimiter
from fluide.kit.ratelimit import redis_store as ratelimit
from tests.conftest import Dev, bearer, exchange
from tests.kit.ratelimit.support import (
    CHECKS,
    DEAD_REDIS,
    FAIL,
    HITS,
    PER_IP,
    PER_KEY,
    counted,
    drop_keys,
    redis_of,
)


async def test_fixed_window_counts_and_reports() -> None:
    limiter = RateLimiter()
    decisions = [await limiter.hit("3/minute", "k") for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions[:3]] == [2, 1, 0]
    assert decisions[3].headers()["X-RateLimit-Remaining"] == "0"
    assert 1 <= decisions[3].retry_after <= 60
    assert (await limiter.hit("3/minute", "other")).allowed


async def test_unreachable_redis_fails_open_to_process_limits(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter = RateLimiter(DEAD_REDIS)
    with caplog.at_level(logging.WARNING, logger="fluide.ratelimit"):
        decisions = [await limiter.hit("2/minute", "k") for _ in range(3)]
        await limiter.count_failure("1/minute", "f")
        locked = await limiter.exceeded("1/minute", "f")
    assert [d.allowed for d in decisions] == [True, True, False]  # still enforced, locally
    assert locked is not None
    assert "unreachable" in caplog.text


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"redis_url": DEAD_REDIS}


async def test_the_service_keeps_serving_when_redis_is_down(
    app: App, client: httpx.AsyncClient, dev: Dev
) -> None:
    token = (await exchange(client, dev))["accessToken"]
    resp = await client.get("/api/v1/hr/health", headers=bearer(token, dev))
    assert resp.status_code == 200
    assert resp.headers["x-ratelimit-limit"]


async def test_check_and_hit_counts_every_hit_when_all_is_clear(limiter: RateLimiter) -> None:
    assert await limiter.check_and_hit(CHECKS, HITS) == (None, None)
    # Both hits were counted: the next ``hit`` on each window sees the second request.
    assert (await limiter.hit(PER_IP, "xip", "ip")).remaining == 2
    assert (await limiter.hit(PER_KEY, "xkey", "k")).remaining == 0


async def test_check_and_hit_returns_the_first_refused_hit(limiter: RateLimiter) -> None:
    for _ in range(2):
        assert await limiter.check_and_hit(CHECKS, HITS) == (None, None)
    locked, refused = await limiter.check_and_hit(CHECKS, HITS)
    assert locked is None
    assert refused is not None and not refused.allowed
    assert refused.limit == 2 and refused.remaining == -1  # the per-key one, third request
    assert 1 <= refused.retry_after <= 60
    # The per-IP hit before it was counted (3 of 4); refused hits after the first are not:
    other = [(PER_KEY, ("xkey", "k")), (PER_IP, ("xip", "ip"))]
    _, refused = await limiter.check_and_hit([], other)
    assert refused is not None and refused.limit == 2  # still the per-key one...
    assert (await limiter.hit(PER_IP, "xip", "ip")).remaining == 0  # ...so the IP saw 4, not 5


async def test_check_and_hit_stops_at_a_lock_out_and_counts_nothing(
    limiter: RateLimiter,
) -> None:
    for _ in range(3):
        await limiter.count_failure(FAIL, "xfail", "k", "ip")
    before = time.time()
    locked, refused = await limiter.check_and_hit(CHECKS, HITS)
    assert refused is None
    assert locked is not None and not locked.allowed and locked.limit == 3
    assert before + 59 <= locked.reset_at <= time.time() + 60  # the oldest failure + 5 minutes
    assert locked == await limiter.exceeded(FAIL, "xfail", "k", "ip")  # the same window
    assert await limiter.exceeded("5/hour", "xfail-ip", "ip") is None
    assert (await limiter.hit(PER_KEY, "xkey", "k")).remaining == 1  # nothing was spent


async def test_check_and_hit_in_memory_never_suspends() -> None:
    limiter = RateLimiter()
    coro = limiter.check_and_hit(CHECKS, HITS)
    with pytest.raises(StopIteration) as done:  # finished on the first step: no await at all
        coro.send(None)
    assert done.value.value == (None, None)


@pytest.mark.redis
async def test_check_and_hit_is_one_redis_round_trip(redis_url: str, prefix: str) -> None:
    limiter = RateLimiter(redis_url, prefix=prefix)
    try:
        await limiter.hit("1/minute", "warm-up")  # connects
        calls = counted(redis_of(limiter).client)
        await limiter.check_and_hit(CHECKS, HITS)
        for _ in range(3):
            await limiter.count_failure(FAIL, "xfail", "k", "ip")
        calls.clear()
        locked, _ = await limiter.check_and_hit(CHECKS, HITS)
        assert locked is not None
        assert len(calls) == 1 and calls[0][0] == "EVALSHA"
    finally:
        await limiter.aclose()
        await drop_keys(redis_url, prefix)


@pytest.mark.redis
async def test_check_and_hit_survives_a_redis_that_forgot_its_scripts(
    redis_url: str, prefix: str
) -> None:
    limiter = RateLimiter(redis_url, prefix=prefix)
    try:
        # Another script SHA than the one Redis knows: as after a Redis restart.
        stale = ratelimit.Script(ratelimit.BATCH.source + "\n-- " + prefix)
        limiter_batch = ratelimit.BATCH
        ratelimit.BATCH = stale
        try:
            assert await limiter.check_and_hit(CHECKS, HITS) == (None, None)
        finally:
            ratelimit.BATCH = limiter_batch
        assert not redis_of(limiter).down
    finally:
        await limiter.aclose()
        await drop_keys(redis_url, prefix)


# ---- check_and_hit_shared: the exchange's hot path ----------------------------------------------


async def test_check_and_hit_shared_follows_check_and_hit(limiter: RateLimiter) -> None:
    # Small limits: the shared windows decide them on Redis, exactly.
    assert await limiter.check_and_hit_shared(CHECKS, HITS) == (None, None)
    assert await limiter.check_and_hit_shared(CHECKS, HITS) == (None, None)
    locked, refused = await limiter.check_and_hit_shared(CHECKS, HITS)
    assert locked is None and refused is not None
    assert refused.limit == 2 and not refused.allowed  # the per-key one, third request
    # A failure this process counts applies at once, cached "clear" or not.
    for _ in range(3):
        await limiter.count_failure(FAIL, "xfail", "k", "ip")
    locked, refused = await limiter.check_and_hit_shared(CHECKS, HITS)
    assert refused is None
    assert locked is not None and locked.limit == 3


@pytest.mark.redis
async def test_check_and_hit_shared_looks_at_redis_once_per_sync_period(
    redis_url: str, prefix: str
) -> None:
    limiter = RateLimiter(redis_url, prefix=prefix, sync_seconds=0.2)
    try:
        await limiter.hit("1/minute", "warm-up")  # connects
        calls = counted(redis_of(limiter).client)
        # 32 at once on a cold entry: one look for all of them.
        results = await asyncio.gather(
            *(limiter.check_and_hit_shared(CHECKS, []) for _ in range(32))
        )
        assert results == [(None, None)] * 32
        assert len(calls) == 1
        for _ in range(20):  # found clear: no look for the rest of the period
            assert await limiter.check_and_hit_shared(CHECKS, []) == (None, None)
        assert len(calls) == 1
        await asyncio.sleep(0.25)
        assert await limiter.check_and_hit_shared(CHECKS, []) == (None, None)
        assert len(calls) == 2
    finally:
        await limiter.aclose()
        await drop_keys(redis_url, prefix)


@pytest.mark.redis
async def test_a_lock_out_engaged_elsewhere_applies_within_one_sync_period(
    redis_url: str, prefix: str
) -> None:
    sync = 0.05
    a = RateLimiter(redis_url, prefix=prefix, sync_seconds=sync)
    b = RateLimiter(redis_url, prefix=prefix, sync_seconds=sync)
    try:
        assert await b.check_and_hit_shared(CHECKS, []) == (None, None)  # b caches "clear"
        for _ in range(3):  # a counts the failures that lock the key out
            await a.count_failure(FAIL, "xfail", "k", "ip")
        locked_at = time.monotonic()
        seen: list[tuple[float, bool]] = []
        while time.monotonic() < locked_at + 4 * sync:
            locked, _ = await b.check_and_hit_shared(CHECKS, [])
            seen.append((time.monotonic(), locked is not None))
            await asyncio.sleep(0.005)
        late = [was_locked for at, was_locked in seen if at > locked_at + sync]
        assert late and all(late), "b admitted a locked-out key a sync period after the lock-out"
    finally:
        await a.aclose()
        await b.aclose()
        await drop_keys(redis_url, prefix)
