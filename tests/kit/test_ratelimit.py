"""The rate limiter: one storage call per hit, and fail-open when Redis is unreachable."""

from __future__ import annotations

import logging

import httpx
import pytest
from fastapi import FastAPI

from fluide.kit.ratelimit import RateLimiter
from tests.conftest import Dev, bearer, exchange

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
    app: FastAPI, client: httpx.AsyncClient, dev: Dev
) -> None:
    token = (await exchange(client, dev))["accessToken"]
    resp = await client.get("/api/v1/hr/health", headers=bearer(token, dev))
    assert resp.status_code == 200
    assert resp.headers["x-ratelimit-limit"]
