"""What the rate-limit tests share: the Redis helpers and the exchange-shaped windows."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fluide.kit.ratelimit import RateLimiter, SharedWindow
from fluide.kit.ratelimit.redis_store import RedisWindows

DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


async def drop_keys(url: str, prefix: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def counted(client: Any) -> list[tuple[Any, ...]]:
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


async def global_count(url: str, window: SharedWindow, key: str) -> int:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        start = int(time.time()) // window.period * window.period
        return int(await client.get(window.redis_key(key, start)) or 0)
    finally:
        await client.aclose()


WARM = 4


async def warm(window: SharedWindow, key: str) -> None:
    """A few hits spaced out so the window learns the key's rate (then it decides locally)."""
    for i in range(WARM):
        if i:
            await asyncio.sleep(window.max_age / 4)
        assert (await window.hit(key)).allowed


def pending(window: SharedWindow) -> int:
    return sum(slot.pending for slot in window.dirty.values())


def redis_of(limiter: RateLimiter) -> RedisWindows:
    """The limiter's Redis storage (the tests that ask for it configured one)."""
    assert limiter.redis is not None
    return limiter.redis
