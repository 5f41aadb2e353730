"""Fixtures of the rate-limit tests: a key prefix per test, and a limiter in memory and on
Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from fluide.kit.ratelimit import RateLimiter
from tests.kit.ratelimit.support import drop_keys


@pytest.fixture
def prefix() -> str:
    """A key prefix of this test's own: other tests share the Redis database."""
    return f"fluide-test-{uuid.uuid4().hex[:12]}:"


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
        await drop_keys(url, prefix)
