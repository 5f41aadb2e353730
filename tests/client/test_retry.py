"""Bounded retries with backoff on 429/503, honouring Retry-After; a real 429 from the guard."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from fluide.app import App
from fluide.client import AsyncFluideClient, RateLimitError, RetryPolicy
from fluide.client._retry import parse_retry_after
from tests.client.support import Recorder, asgi_recording
from tests.conftest import Dev

LIMIT = 3


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"product_rate_limit": f"{LIMIT}/minute"}


def make_client(
    app: App, dev: Dev, recorder: Recorder, sleep: Any, **retry: Any
) -> AsyncFluideClient:
    return AsyncFluideClient(
        "http://testserver",
        dev.api_key,
        dev.api_secret,
        transport=asgi_recording(app, recorder),
        retry=RetryPolicy(rng=random.Random(3), **retry),
        sleep=sleep,
    )


async def test_429_is_retried_after_retry_after(app: App, dev: Dev, runtime: App) -> None:
    recorder = Recorder()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        await app.state.gateway.limiter.reset()  # the window has passed

    async with make_client(app, dev, recorder, sleep, max_wait=120) as fluide:
        for _ in range(LIMIT):
            await fluide.health("hr")
        assert (await fluide.health("hr"))["status"] == "ok"
    limited = recorder.statuses(429)
    assert len(limited) == 1 and limited[0].code == "RATE_LIMITED"
    assert len(slept) == 1
    retry_after = limited_retry_after(recorder)
    assert retry_after <= slept[0] <= retry_after + 1.0
    assert len(recorder.other_calls) == LIMIT + 2


def limited_retry_after(recorder: Recorder) -> float:
    # The recorder keeps request headers; the answer's Retry-After is read again from the app.
    assert recorder.last_retry_after is not None
    return recorder.last_retry_after


async def test_retries_are_bounded(app: App, dev: Dev) -> None:
    recorder = Recorder()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async with make_client(app, dev, recorder, sleep, max_retries=2, max_wait=1000) as fluide:
        for _ in range(LIMIT):
            await fluide.health("hr")
        with pytest.raises(RateLimitError) as caught:
            await fluide.health("hr")
    assert caught.value.code == "RATE_LIMITED" and caught.value.status == 429
    assert caught.value.retry_after is not None and caught.value.retry_after >= 1
    assert len(slept) == 2
    assert len(recorder.statuses(429)) == 3


async def test_a_wait_longer_than_max_wait_raises_at_once(app: App, dev: Dev) -> None:
    recorder = Recorder()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async with make_client(app, dev, recorder, sleep, max_wait=0.5) as fluide:
        for _ in range(LIMIT):
            await fluide.health("hr")
        with pytest.raises(RateLimitError):
            await fluide.health("hr")
    assert slept == []
    assert len(recorder.statuses(429)) == 1


async def test_with_options_max_retries_zero_raises_the_first_429(app: App, dev: Dev) -> None:
    recorder = Recorder()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async with make_client(app, dev, recorder, sleep, max_wait=120) as fluide:
        for _ in range(LIMIT):
            await fluide.hr.health()
        with pytest.raises(RateLimitError):
            await fluide.with_options(max_retries=0).hr.health()
    assert slept == [] and len(recorder.statuses(429)) == 1


def test_parse_retry_after() -> None:
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("soon") is None
    now = datetime(2026, 11, 28, tzinfo=UTC)
    date = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(date, now=now.timestamp()) == 30.0


def test_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(backoff_base=1.0, backoff_cap=8.0, rng=random.Random(1))
    for attempt in range(10):
        delay = policy.backoff(attempt)
        assert 0 < delay <= min(8.0, 2**attempt)
    assert policy.allows(0, 0.0, 1.0) and not policy.allows(3, 0.0, 1.0)
    assert not policy.allows(0, 59.5, 1.0)


def _response(status: int, method: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status, headers=headers, request=httpx.Request(method, "http://x/api/v1/hr/health")
    )


def test_what_is_retried() -> None:
    policy = RetryPolicy(rng=random.Random(2))
    assert policy.delay_for_response(_response(429, "POST", {"Retry-After": "2"}), 0) is not None
    assert policy.delay_for_response(_response(503, "GET"), 0) is not None
    assert policy.delay_for_response(_response(503, "POST"), 0) is None  # not idempotent
    assert policy.delay_for_response(_response(500, "GET"), 0) is None
    assert policy.delay_for_response(_response(401, "GET"), 0) is None
    delay = policy.delay_for_response(_response(429, "GET", {"Retry-After": "5"}), 0)
    assert delay is not None and 5 <= delay <= 6
