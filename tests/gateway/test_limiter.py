"""Check 12: per-key rate limits on product routes, in memory and on Redis."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from fluide.app import App, create_app
from fluide.gateway.limiter import ProductLimiter
from fluide.kit.clock import FrozenClock
from tests.conftest import bearer, create_dev, exchange, make_settings

HEALTH = "/api/v1/hr/health"


def test_memory_window_counts_and_resets() -> None:
    limiter = ProductLimiter("3/minute")
    start = 1_000_020.0  # inside a minute window starting at 1_000_020 // 60 * 60
    window = int(start) // 60 * 60
    decisions = [limiter.hit_memory("k", start + i) for i in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert all(d.reset_at == window + 60 for d in decisions)
    assert limiter.hit_memory("other", start).allowed  # per key
    assert limiter.hit_memory("k", window + 60).allowed  # next window
    headers = dict(limiter.raw_headers(decisions[0]))
    assert headers[b"x-ratelimit-limit"] == b"3"
    assert headers[b"x-ratelimit-remaining"] == b"2"
    assert headers[b"x-ratelimit-reset"] == str(window + 60).encode()


def test_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from fluide.kit.ratelimit import base

    monkeypatch.setattr(base, "PRUNE_AT", 10)
    limiter = ProductLimiter("3/minute")
    for i in range(25):
        limiter.hit_memory(f"key-{i}", 1_000_020.0)
    assert len(limiter.memory.fixed) <= 10


async def _app(tmp_path: Path, database_url: str, **overrides: object) -> App:
    return create_app(make_settings(tmp_path, database_url, **overrides), FrozenClock())


async def _run_limit(app: App) -> None:
    rt = app
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.lifespan(),
        httpx.AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        dev = await create_dev(rt)
        other = await create_dev(rt)
        headers = bearer((await exchange(client, dev))["accessToken"], dev)
        remaining = []
        for _ in range(3):
            resp = await client.get(HEALTH, headers=headers)
            assert resp.status_code == 200, resp.text
            assert resp.headers["x-ratelimit-limit"] == "3"
            remaining.append(resp.headers["x-ratelimit-remaining"])
        assert remaining == ["2", "1", "0"]
        resp = await client.get(HEALTH, headers=headers)
        assert resp.status_code == 429
        assert resp.json()["code"] == "RATE_LIMITED"
        assert 1 <= int(resp.headers["retry-after"]) <= 3600
        assert int(resp.headers["x-ratelimit-reset"]) >= int(time.time())
        assert resp.headers["x-ratelimit-remaining"] == "0"
        # Another key has its own budget.
        other_headers = bearer((await exchange(client, other))["accessToken"], other)
        assert (await client.get(HEALTH, headers=other_headers)).status_code == 200


async def test_limit_in_memory(tmp_path: Path, database_url: str) -> None:
    await _run_limit(await _app(tmp_path, database_url, product_rate_limit="3/hour"))


@pytest.mark.redis
async def test_limit_on_redis_is_shared_by_processes(
    tmp_path: Path, database_url: str, redis_url: str
) -> None:
    await _run_limit(
        await _app(tmp_path, database_url, product_rate_limit="3/hour", redis_url=redis_url)
    )


@pytest.mark.redis
async def test_two_apps_on_one_redis_share_a_keys_budget(
    tmp_path: Path, database_url: str, redis_url: str
) -> None:
    a = await _app(tmp_path, database_url, product_rate_limit="4/hour", redis_url=redis_url)
    b = await _app(tmp_path, database_url, product_rate_limit="4/hour", redis_url=redis_url)
    async with a.lifespan(), b.lifespan():
        ca = httpx.AsyncClient(transport=httpx.ASGITransport(app=a), base_url="http://a")
        cb = httpx.AsyncClient(transport=httpx.ASGITransport(app=b), base_url="http://b")
        async with ca, cb:
            dev = await create_dev(a)
            headers = bearer((await exchange(ca, dev))["accessToken"], dev)
            statuses = [(await c.get(HEALTH, headers=headers)).status_code for c in (ca, cb) * 3]
    assert statuses == [200, 200, 200, 200, 429, 429]
