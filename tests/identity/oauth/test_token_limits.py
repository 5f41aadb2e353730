"""``/oauth/token`` spends the exchange's limits (DESIGN §3.2, §3.6): one service, so a failure
in either wire format counts toward the same lock-out, a success spends the same key budget,
and a lock-out never refuses the right secret. On PostgreSQL the limits are shared through
Redis, as at scale."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fluide.app import App
from tests.conftest import Dev, redis_or_skip
from tests.identity.oauth.support import error_of, oauth_token

TOKEN = "/api/v1/authorize/token"


@pytest.fixture
def settings_overrides(backend: str) -> dict[str, Any]:
    values: dict[str, Any] = {
        "exchange_limit_per_key": "4/minute",
        "exchange_limit_per_ip": "8/minute",
        "exchange_failure_limit": "2/minute",
    }
    if backend == "postgres":
        values["redis_url"] = redis_or_skip()
    return values


@pytest.fixture(autouse=True)
async def _fresh_limits(runtime: App) -> None:
    await runtime.infra.limiter.reset()  # Redis keeps counts of earlier tests


def _from(app: App, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
@pytest.mark.usefixtures("whole_minute")
async def test_wrong_secrets_lock_out_and_the_right_one_still_works(
    app: App, dev: Dev, method: str
) -> None:
    async with _from(app, "127.0.0.21") as attacker:
        for _ in range(2):
            resp = await oauth_token(attacker, dev.api_key, "fl_sk_wrong", method=method)
            assert error_of(resp) == (401, "invalid_client")
        locked = await oauth_token(attacker, dev.api_key, "fl_sk_wrong", method=method)
        assert error_of(locked) == (429, "temporarily_unavailable")
        assert 1 <= int(locked.headers["retry-after"]) <= 60
        ok = await oauth_token(attacker, dev.api_key, dev.api_secret, method=method)
        assert ok.status_code == 200, ok.text
    async with _from(app, "127.0.0.22") as owner:
        assert (await oauth_token(owner, dev.api_key, dev.api_secret)).status_code == 200


@pytest.mark.usefixtures("whole_minute")
async def test_failures_count_across_the_two_wire_formats(app: App, dev: Dev) -> None:
    """One OAuth failure and one JSON failure fill the (key, address) window together."""
    async with _from(app, "127.0.0.23") as attacker:
        resp = await oauth_token(attacker, dev.api_key, "fl_sk_wrong")
        assert error_of(resp) == (401, "invalid_client")
        resp = await attacker.post(TOKEN, headers=dev.exchange_headers("fl_sk_wrong"))
        assert resp.json()["code"] == "DEVELOPER_KEYS_INVALID"
        resp = await attacker.post(TOKEN, headers=dev.exchange_headers("fl_sk_wrong"))
        assert (resp.status_code, resp.json()["code"]) == (429, "RATE_LIMITED")
        resp = await oauth_token(attacker, dev.api_key, "fl_sk_wrong", method="client_secret_post")
        assert error_of(resp) == (429, "temporarily_unavailable")


@pytest.mark.usefixtures("whole_minute")
async def test_the_key_budget_is_one_for_both_formats(app: App, dev: Dev) -> None:
    async with _from(app, "127.0.0.24") as client:
        statuses = []
        for i in range(5):
            if i % 2:
                resp = await client.post(TOKEN, headers=dev.exchange_headers())
            else:
                resp = await oauth_token(client, dev.api_key, dev.api_secret)
            statuses.append(resp.status_code)
        assert statuses == [200, 200, 200, 200, 429]
        assert error_of(resp) == (429, "temporarily_unavailable")


@pytest.mark.usefixtures("whole_minute")
async def test_the_address_budget_spans_keys_and_formats(app: App, dev: Dev) -> None:
    async with _from(app, "127.0.0.25") as client:
        statuses = []
        for i in range(9):
            key = f"fl_dev_unknown{i}"
            statuses.append((await oauth_token(client, key, "fl_sk_x")).status_code)
    assert statuses[:8] == [401] * 8
    assert statuses[8] == 429
