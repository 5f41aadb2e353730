"""Token exchange abuse limits: per key, per source address, lock-out after failures.

On PostgreSQL the limits are shared through Redis, as at scale (the look at a lock-out and the
count of a failure are then separate round trips)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from fluide.app import App
from fluide.kit.turns import Turns
from tests.conftest import Dev, redis_or_skip

TOKEN = "/api/v1/authorize/token"


@pytest.fixture
def settings_overrides(backend: str) -> dict[str, Any]:
    values: dict[str, Any] = {
        "exchange_limit_per_key": "3/minute",
        "exchange_limit_per_ip": "5/minute",
        "exchange_failure_limit": "2/minute",
    }
    if backend == "postgres":
        values["redis_url"] = redis_or_skip()
    return values


@pytest.fixture(autouse=True)
async def _fresh_limits(runtime: App) -> None:
    await (
        runtime.infra.limiter.reset()
    )  # Redis keeps counts of earlier tests for the same addresses


def _from(app: App, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.mark.usefixtures("whole_minute")
async def test_per_key_limit_answers_429_with_retry_after(app: App, dev: Dev) -> None:
    async with _from(app, "10.0.0.1") as client:
        codes = [
            (await client.post(TOKEN, headers=dev.exchange_headers())).status_code for _ in range(4)
        ]
        assert codes == [200, 200, 200, 429]
        resp = await client.post(TOKEN, headers=dev.exchange_headers())
    assert resp.json()["code"] == "RATE_LIMITED"
    assert 1 <= int(resp.headers["retry-after"]) <= 60
    async with _from(app, "10.0.0.2") as elsewhere:  # the key's budget is spent everywhere
        assert (await elsewhere.post(TOKEN, headers=dev.exchange_headers())).status_code == 429


@pytest.mark.usefixtures("whole_minute")
async def test_per_address_limit_spans_keys(app: App, dev: Dev) -> None:
    async with _from(app, "10.0.0.3") as client:
        codes = []
        for i in range(6):
            headers = {**dev.exchange_headers(), "X-Fluide-Api-Key": f"fl_dev_unknown{i}"}
            codes.append((await client.post(TOKEN, headers=headers)).status_code)
    assert codes[:5] == [401] * 5
    assert codes[5] == 429


@pytest.mark.usefixtures("whole_minute")
async def test_a_lock_out_refuses_failures_and_never_the_right_secret(app: App, dev: Dev) -> None:
    """DESIGN §3.2 (issue 14; until then the lock-out refused the right secret too): after the
    failures the lock-out allows, further failures from that key and address are 429, while the
    right secret still exchanges, from that address and from any other."""
    async with _from(app, "10.0.0.4") as attacker:
        for _ in range(2):
            resp = await attacker.post(TOKEN, headers=dev.exchange_headers("fl_sk_wrong"))
            assert resp.json()["code"] == "DEVELOPER_KEYS_INVALID"
        locked = await attacker.post(TOKEN, headers=dev.exchange_headers("fl_sk_wrong"))
        assert (locked.status_code, locked.json()["code"]) == (429, "RATE_LIMITED")
        assert "retry-after" in locked.headers
        assert (await attacker.post(TOKEN, headers=dev.exchange_headers())).status_code == 200
    async with _from(app, "10.0.0.5") as owner:
        assert (await owner.post(TOKEN, headers=dev.exchange_headers())).status_code == 200


@pytest.mark.usefixtures("whole_minute")
async def test_a_burst_of_parallel_wrong_guesses_stops_at_the_lock_out(app: App, dev: Dev) -> None:
    """Of 30 parallel wrong guesses (5 within this module's per-address budget), exactly the 2
    failures the lock-out allows are answered 401 and counted, the other 3 get the lock-out:
    for one key and address, the look at the lock-out and the count take turns, however the
    attempts interleave (with Redis they are separate round trips)."""
    async with _from(app, "10.0.0.9") as attacker:
        wrong = dev.exchange_headers("fl_sk_wrong")
        responses = await asyncio.gather(*(attacker.post(TOKEN, headers=wrong) for _ in range(30)))
    codes = [r.json()["code"] for r in responses]
    assert codes.count("DEVELOPER_KEYS_INVALID") == 2
    assert codes.count("RATE_LIMITED") == 28


def test_turns_forget_keys_nobody_holds() -> None:
    async def scenario() -> list[int]:
        turns = Turns()
        order: list[int] = []

        async def holder(n: int) -> None:
            async with turns.turn("k"):
                order.append(n)
                await asyncio.sleep(0)
                order.append(n)

        await asyncio.gather(*(holder(n) for n in range(3)))
        assert len(turns) == 0
        return order

    # One holder at a time: each one's two entries are adjacent.
    assert asyncio.run(scenario()) == [0, 0, 1, 1, 2, 2]
