"""The rate limiter: one storage call per hit, the exchange's checks and hits in one call, the
shared window decided in process and synchronised in the background, and fail-open when Redis
is unreachable. In memory and on Redis."""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from fluide.app import App
from fluide.kit.ratelimit import RateLimiter, SharedWindow, key_for, parse_limit
from tests.conftest import Dev, bearer, exchange
from tests.proxy import TcpProxy

DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


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


# ---- against memory and Redis ------------------------------------------------------------------


@pytest.fixture
def prefix() -> str:
    """A key prefix of this test's own: other tests share the Redis database."""
    return f"fluide-test-{uuid.uuid4().hex[:12]}:"


async def _drop_keys(url: str, prefix: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def limiter(request: pytest.FixtureRequest, prefix: str) -> AsyncIterator[RateLimiter]:
    if request.param == "memory":
        lim = RateLimiter()
        yield lim
        await lim.aclose()
        return
    url: str = request.getfixturevalue("redis_url")
    lim = RateLimiter(url, prefix=prefix)
    try:
        yield lim
    finally:
        await lim.aclose()
        await _drop_keys(url, prefix)


def _counted(client: Any) -> list[tuple[Any, ...]]:
    """Record the commands a redis-py client sends (one entry per round trip)."""
    calls: list[tuple[Any, ...]] = []
    real = client.execute_command

    async def execute_command(*args: Any, **kw: Any) -> Any:
        calls.append(args)
        return await real(*args, **kw)

    real_pipeline = client.pipeline

    def pipeline(*args: Any, **kw: Any) -> Any:
        pipe = real_pipeline(*args, **kw)
        real_execute = pipe.execute

        async def execute(*a: Any, **k: Any) -> Any:
            calls.append(("PIPELINE", len(pipe.command_stack)))
            return await real_execute(*a, **k)

        pipe.execute = execute
        return pipe

    client.execute_command = execute_command
    client.pipeline = pipeline
    return calls


FAIL = "3/minute"
PER_IP, PER_KEY = "4/minute", "2/minute"
CHECKS = [(FAIL, ("xfail", "k", "ip")), ("5/hour", ("xfail-ip", "ip"))]
HITS = [(PER_IP, ("xip", "ip")), (PER_KEY, ("xkey", "k"))]


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
        calls = _counted(limiter._client)
        await limiter.check_and_hit(CHECKS, HITS)
        for _ in range(3):
            await limiter.count_failure(FAIL, "xfail", "k", "ip")
        calls.clear()
        locked, _ = await limiter.check_and_hit(CHECKS, HITS)
        assert locked is not None
        assert len(calls) == 1 and calls[0][0] == "EVALSHA"
    finally:
        await limiter.aclose()
        await _drop_keys(redis_url, prefix)


@pytest.mark.redis
async def test_check_and_hit_survives_a_redis_that_forgot_its_scripts(
    redis_url: str, prefix: str
) -> None:
    limiter = RateLimiter(redis_url, prefix=prefix)
    try:
        # Another script SHA than the one Redis knows: as after a Redis restart.
        from fluide.kit import ratelimit

        stale = ratelimit._Script(ratelimit.BATCH.source + "\n-- " + prefix)
        limiter_batch = ratelimit.BATCH
        ratelimit.BATCH = stale
        try:
            assert await limiter.check_and_hit(CHECKS, HITS) == (None, None)
        finally:
            ratelimit.BATCH = limiter_batch
        assert not limiter._down
    finally:
        await limiter.aclose()
        await _drop_keys(redis_url, prefix)


# ---- the shared window: decided in process, synchronised with Redis in the background ---------


async def _global_count(url: str, window: SharedWindow, key: str) -> int:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        start = int(time.time()) // window.period * window.period
        return int(await client.get(window.redis_key(key, start)) or 0)
    finally:
        await client.aclose()


WARM = 4


async def _warm(window: SharedWindow, key: str) -> None:
    """A few hits spaced out so the window learns the key's rate (then it decides locally)."""
    for i in range(WARM):
        if i:
            await asyncio.sleep(window.max_age / 4)
        assert (await window.hit(key)).allowed


def _pending(window: SharedWindow) -> int:
    return sum(slot.pending for slot in window.dirty.values())


@pytest.mark.redis
async def test_shared_window_counts_locally_and_syncs_in_the_background(
    redis_url: str, prefix: str
) -> None:
    # A long sync period: the count read while warming up stays fresh for the whole test.
    a = RateLimiter(redis_url, prefix=prefix, sync_seconds=0.2)
    b = RateLimiter(redis_url, prefix=prefix, sync_seconds=0.2)  # another process
    wa, wb = a.shared_window("1000/hour", "pkey"), b.shared_window("1000/hour", "pkey")
    try:
        await _warm(wa, "k")
        synced = await _global_count(redis_url, wa, "k")
        assert synced >= 1  # the first hit of a window always asks Redis
        calls = _counted(a._client)
        decisions = [await wa.hit("k") for _ in range(50)]
        assert all(d.allowed for d in decisions)
        assert calls == []  # decided in process: not one round trip
        assert [d.remaining for d in decisions[:3]] == [1000 - WARM - 1, 1000 - WARM - 2, 995 - 2]
        assert await _global_count(redis_url, wa, "k") == synced  # not sent yet
        assert _pending(wa) == WARM + 50 - synced
        assert await a.flush() == 1  # one key, one pipelined round trip
        assert calls == [("PIPELINE", 1)]
        assert await _global_count(redis_url, wa, "k") == WARM + 50
        # The other process reads the global count on its own first hit.
        first = await wb.hit("k")
        assert first.allowed and first.remaining == 1000 - WARM - 51
        assert (await wb.hit("k")).remaining == 1000 - WARM - 52
    finally:
        await a.aclose()
        await b.aclose()
        await _drop_keys(redis_url, prefix)


@pytest.mark.redis
async def test_shared_window_small_limits_stay_exact_across_processes(
    redis_url: str, prefix: str
) -> None:
    limiters = [RateLimiter(redis_url, prefix=prefix) for _ in range(2)]
    windows = [lim.shared_window("4/hour", "pkey") for lim in limiters]
    try:
        allowed = [(await windows[i % 2].hit("k")).allowed for i in range(8)]
        assert allowed == [True] * 4 + [False] * 4
    finally:
        for lim in limiters:
            await lim.aclose()
        await _drop_keys(redis_url, prefix)


@pytest.mark.redis
async def test_shared_window_bounds_the_over_admission_under_concurrent_load(
    redis_url: str, prefix: str
) -> None:
    """Three "processes" hammer one key from many tasks: together they admit at least the
    limit (the budget is not lost) and at most the limit plus the documented bound: the hits
    admitted cluster-wide in one sync period and one round trip."""
    limit, sync = 600, 0.04
    limiters = [RateLimiter(redis_url, prefix=prefix, sync_seconds=sync) for _ in range(3)]
    windows = [lim.shared_window(f"{limit}/hour", "pkey") for lim in limiters]
    for lim in limiters:
        lim.start()
    admitted = 0
    started = time.monotonic()

    async def client(window: SharedWindow) -> None:
        nonlocal admitted
        for _ in range(120):
            if (await window.hit("hot")).allowed:
                admitted += 1
            await asyncio.sleep(0.001)

    try:
        await asyncio.gather(*(client(w) for w in windows for _ in range(4)))
        elapsed = time.monotonic() - started
    finally:
        for lim in limiters:
            await lim.aclose()
    rate = 12 * 120 / elapsed  # attempts per second, all processes together
    bound = math.ceil(rate * sync)
    try:
        assert limit <= admitted <= limit + bound, (admitted, bound)
        assert await _global_count(redis_url, windows[0], "hot") >= admitted  # all synced
    finally:
        await _drop_keys(redis_url, prefix)


@pytest.mark.redis
async def test_a_key_over_the_limit_is_refused_by_every_process_within_one_sync(
    redis_url: str, prefix: str
) -> None:
    sync = 0.04
    a = RateLimiter(redis_url, prefix=prefix, sync_seconds=sync)
    b = RateLimiter(redis_url, prefix=prefix, sync_seconds=sync)
    wa, wb = a.shared_window("2000/hour", "pkey"), b.shared_window("2000/hour", "pkey")
    a.start()
    b.start()
    seen_by_b: list[tuple[float, bool]] = []
    over_at: float | None = None

    async def b_traffic() -> None:  # b keeps deciding locally on a busy key
        while over_at is None or time.monotonic() < over_at + 3 * sync:
            seen_by_b.append((time.monotonic(), (await wb.hit("k")).allowed))
            await asyncio.sleep(0.002)

    try:
        await _warm(wa, "k")
        await _warm(wb, "k")
        traffic = asyncio.create_task(b_traffic())
        await asyncio.sleep(sync)
        while True:  # a spends the rest of the budget
            for _ in range(20):  # (in bursts, so b's task gets its turn)
                if not (await wa.hit("k")).allowed:
                    over_at = time.monotonic()
                    break
            if over_at is not None:
                break
            await asyncio.sleep(0)
        await traffic
        late = [allowed for at, allowed in seen_by_b if at > over_at + sync]
        assert late and not any(late), "b still admitted the key a sync period after it ran out"
        refused = await wb.hit("k")
        assert not refused.allowed and refused.remaining == 0
        assert refused.reset_at == int(time.time()) // 3600 * 3600 + 3600
    finally:
        await a.aclose()
        await b.aclose()
        await _drop_keys(redis_url, prefix)


@pytest.mark.redis
async def test_a_quiet_process_asks_redis_before_deciding_on_an_old_count(
    redis_url: str, prefix: str
) -> None:
    a = RateLimiter(redis_url, prefix=prefix, sync_seconds=0.04)
    b = RateLimiter(redis_url, prefix=prefix, sync_seconds=0.04)
    wa, wb = a.shared_window("2000/hour", "pkey"), b.shared_window("2000/hour", "pkey")
    a.start()
    b.start()
    try:
        await _warm(wb, "k")  # b knows the key, its count and its rate; then b goes quiet
        await _warm(wa, "k")
        while (await wa.hit("k")).allowed:
            pass
        await asyncio.sleep(0.04)  # a's last hits reach Redis; b's count is now too old
        calls = _counted(b._client)
        refused = await wb.hit("k")
        assert not refused.allowed
        assert [c[0] for c in calls] == ["EVALSHA"]  # b asked instead of trusting its count
    finally:
        await a.aclose()
        await b.aclose()
        await _drop_keys(redis_url, prefix)


@pytest.mark.redis
async def test_shutdown_flushes_the_pending_counts(redis_url: str, prefix: str) -> None:
    limiter = RateLimiter(redis_url, prefix=prefix)
    window = limiter.shared_window("1000/hour", "pkey")
    limiter.start()
    try:
        await _warm(window, "k")
        for _ in range(20):  # decided in process, no await: the sync task cannot run meanwhile
            assert (await window.hit("k")).allowed
        assert _pending(window) >= 20
        await limiter.aclose()  # what the App does on shutdown
        assert _pending(window) == 0
        assert await _global_count(redis_url, window, "k") == WARM + 20
    finally:
        await limiter.aclose()
        await _drop_keys(redis_url, prefix)


async def test_shared_window_fails_open_to_local_limits(caplog: pytest.LogCaptureFixture) -> None:
    limiter = RateLimiter(DEAD_REDIS)
    window = limiter.shared_window("3/hour", "pkey")
    with caplog.at_level(logging.WARNING, logger="fluide.ratelimit"):
        decisions = [await window.hit("k") for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert caplog.text.count("unreachable") == 1  # once per outage, not per request
    await limiter.aclose()


@pytest.mark.redis
async def test_shared_window_recovers_when_redis_returns(
    redis_url: str, prefix: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fluide.kit import ratelimit

    monkeypatch.setattr(ratelimit, "RETRY_SECONDS", 0.1)
    proxy = TcpProxy.for_url(redis_url)
    proxy.start()
    limiter = RateLimiter(proxy.url(redis_url), prefix=prefix, sync_seconds=0.02)
    window = limiter.shared_window("1000/hour", "pkey")
    limiter.start()
    try:
        with caplog.at_level(logging.WARNING, logger="fluide.ratelimit"):
            await _warm(window, "k")
            proxy.stop()  # Redis "goes down"
            outage = [await window.hit("k") for _ in range(10)]
            await asyncio.sleep(0.1)  # a sync fails meanwhile
            outage += [await window.hit("k") for _ in range(10)]
            assert all(d.allowed for d in outage)  # served: fail open, no exception
            assert "unreachable" in caplog.text
            proxy.start()  # and comes back
            deadline = time.monotonic() + 5
            while await _global_count(redis_url, window, "k") < WARM + 20:
                assert time.monotonic() < deadline, "the outage's hits never reached Redis"
                await asyncio.sleep(0.05)
            assert "reachable again" in caplog.text
        assert await _global_count(redis_url, window, "k") == WARM + 20
    finally:
        await limiter.aclose()
        proxy.stop()
        await _drop_keys(redis_url, prefix)


@pytest.mark.redis
async def test_the_background_sync_survives_a_redis_that_forgot_its_scripts(
    redis_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fluide.kit import ratelimit

    limiter = RateLimiter(redis_url, prefix=prefix, sync_seconds=0.2)
    window = limiter.shared_window("1000/hour", "pkey")
    try:
        await _warm(window, "k")
        for _ in range(5):
            await window.hit("k")
        # A script SHA Redis has never seen, as after a Redis restart: the pipeline loads it.
        monkeypatch.setattr(ratelimit, "INCR", ratelimit._Script(ratelimit.INCR.source + "--x"))
        assert await limiter.flush() == 1
        assert not limiter._down
        assert await _global_count(redis_url, window, "k") == WARM + 5
    finally:
        await limiter.aclose()
        await _drop_keys(redis_url, prefix)


@pytest.mark.parametrize("limit", ["600/minute", "10/second", "5/15 minutes", "1000/day"])
def test_key_for_is_the_limits_library_key(limit: str) -> None:
    # The counters stay shared with processes that build keys through ``limits``.
    item = parse_limit(limit)
    for ids in (("xkey", "fl_dev_abc"), ("xfail", "fl_dev_abc", "127.0.0.1"), ("pkey",)):
        assert key_for(item, ids) == item.key_for(*ids)


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
        calls = _counted(limiter._client)
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
        await _drop_keys(redis_url, prefix)


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
        await _drop_keys(redis_url, prefix)
