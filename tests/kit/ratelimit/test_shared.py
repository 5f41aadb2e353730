"""The shared window: decided in process, synchronised with Redis in the background."""

from __future__ import annotations

import asyncio
import logging
import math
import time

import pytest

from fluide.kit.ratelimit import RateLimiter, SharedWindow
from fluide.kit.ratelimit import redis_store as ratelimit
from tests.kit.ratelimit.support import (
    DEAD_REDIS,
    WARM,
    counted,
    drop_keys,
    global_count,
    pending,
    redis_of,
    warm,
)
from tests.proxy import TcpProxy


@pytest.mark.redis
async def test_shared_window_counts_locally_and_syncs_in_the_background(
    redis_url: str, prefix: str
) -> None:
    # A long sync period: the count read while warming up stays fresh for the whole test.
    a = RateLimiter(redis_url, prefix=prefix, sync_seconds=0.2)
    b = RateLimiter(redis_url, prefix=prefix, sync_seconds=0.2)  # another process
    wa, wb = a.shared_window("1000/hour", "pkey"), b.shared_window("1000/hour", "pkey")
    try:
        await warm(wa, "k")
        synced = await global_count(redis_url, wa, "k")
        assert synced >= 1  # the first hit of a window always asks Redis
        calls = counted(redis_of(a).client)
        decisions = [await wa.hit("k") for _ in range(50)]
        assert all(d.allowed for d in decisions)
        assert calls == []  # decided in process: not one round trip
        assert [d.remaining for d in decisions[:3]] == [1000 - WARM - 1, 1000 - WARM - 2, 995 - 2]
        assert await global_count(redis_url, wa, "k") == synced  # not sent yet
        assert pending(wa) == WARM + 50 - synced
        assert await a.flush() == 1  # one key, one pipelined round trip
        assert calls == [("PIPELINE", 1)]
        assert await global_count(redis_url, wa, "k") == WARM + 50
        # The other process reads the global count on its own first hit.
        first = await wb.hit("k")
        assert first.allowed and first.remaining == 1000 - WARM - 51
        assert (await wb.hit("k")).remaining == 1000 - WARM - 52
    finally:
        await a.aclose()
        await b.aclose()
        await drop_keys(redis_url, prefix)


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
        await drop_keys(redis_url, prefix)


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
        assert await global_count(redis_url, windows[0], "hot") >= admitted  # all synced
    finally:
        await drop_keys(redis_url, prefix)


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
        await warm(wa, "k")
        await warm(wb, "k")
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
        await drop_keys(redis_url, prefix)


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
        await warm(wb, "k")  # b knows the key, its count and its rate; then b goes quiet
        await warm(wa, "k")
        while (await wa.hit("k")).allowed:
            pass
        await asyncio.sleep(0.04)  # a's last hits reach Redis; b's count is now too old
        calls = counted(redis_of(b).client)
        refused = await wb.hit("k")
        assert not refused.allowed
        assert [c[0] for c in calls] == ["EVALSHA"]  # b asked instead of trusting its count
    finally:
        await a.aclose()
        await b.aclose()
        await drop_keys(redis_url, prefix)


@pytest.mark.redis
async def test_shutdown_flushes_the_pending_counts(redis_url: str, prefix: str) -> None:
    limiter = RateLimiter(redis_url, prefix=prefix)
    window = limiter.shared_window("1000/hour", "pkey")
    limiter.start()
    try:
        await warm(window, "k")
        for _ in range(20):  # decided in process, no await: the sync task cannot run meanwhile
            assert (await window.hit("k")).allowed
        assert pending(window) >= 20
        await limiter.aclose()  # what the App does on shutdown
        assert pending(window) == 0
        assert await global_count(redis_url, window, "k") == WARM + 20
    finally:
        await limiter.aclose()
        await drop_keys(redis_url, prefix)


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
    monkeypatch.setattr(ratelimit, "RETRY_SECONDS", 0.1)
    proxy = TcpProxy.for_url(redis_url)
    proxy.start()
    limiter = RateLimiter(proxy.url(redis_url), prefix=prefix, sync_seconds=0.02)
    window = limiter.shared_window("1000/hour", "pkey")
    limiter.start()
    try:
        with caplog.at_level(logging.WARNING, logger="fluide.ratelimit"):
            await warm(window, "k")
            proxy.stop()  # Redis "goes down"
            outage = [await window.hit("k") for _ in range(10)]
            await asyncio.sleep(0.1)  # a sync fails meanwhile
            outage += [await window.hit("k") for _ in range(10)]
            assert all(d.allowed for d in outage)  # served: fail open, no exception
            assert "unreachable" in caplog.text
            proxy.start()  # and comes back
            deadline = time.monotonic() + 5
            while await global_count(redis_url, window, "k") < WARM + 20:
                assert time.monotonic() < deadline, "the outage's hits never reached Redis"
                await asyncio.sleep(0.05)
            assert "reachable again" in caplog.text
        # At least once: a sync whose reply the cut lost is sent again (redis-py's one retry),
        # so Redis may count an in-flight batch twice: more strict, never a hit lost.
        assert WARM + 20 <= await global_count(redis_url, window, "k") <= 2 * (WARM + 20)
    finally:
        await limiter.aclose()
        proxy.stop()
        await drop_keys(redis_url, prefix)


@pytest.mark.redis
async def test_the_background_sync_survives_a_redis_that_forgot_its_scripts(
    redis_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    limiter = RateLimiter(redis_url, prefix=prefix, sync_seconds=0.2)
    window = limiter.shared_window("1000/hour", "pkey")
    try:
        await warm(window, "k")
        for _ in range(5):
            await window.hit("k")
        # A script SHA Redis has never seen, as after a Redis restart: the pipeline loads it.
        monkeypatch.setattr(ratelimit, "INCR", ratelimit.Script(ratelimit.INCR.source + "--x"))
        assert await limiter.flush() == 1
        assert not redis_of(limiter).down
        assert await global_count(redis_url, window, "k") == WARM + 5
    finally:
        await limiter.aclose()
        await drop_keys(redis_url, prefix)
