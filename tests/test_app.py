"""The app's exchange lane: the exchange skips FastAPI's layers but not the service's own."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from fluide.identity import tokens
from fluide.identity.routes import ExchangeFastPath
from tests.conftest import Dev

TOKEN = "/api/v1/authorize/token"


def test_the_lane_wraps_the_fast_path_in_the_apps_own_middlewares(app: FastAPI) -> None:
    lane: Any = app.exchange_lane  # type: ignore[attr-defined]
    names = []
    while lane is not None and not isinstance(lane, ExchangeFastPath):
        names.append(type(lane).__name__)
        lane = getattr(lane, "app", None)
    assert isinstance(lane, ExchangeFastPath)
    # The same order as the app's own stack (outermost first).
    stack = [getattr(m.cls, "__name__", "") for m in app.user_middleware]
    assert names == ["RequestIdMiddleware", "LimitsMiddleware", "GatewayMiddleware"]
    assert [n for n in stack if n in names] == names


async def test_the_exchange_gets_a_request_id_and_input_limits(
    client: httpx.AsyncClient, dev: Dev
) -> None:
    ok = await client.post(TOKEN, headers={**dev.exchange_headers(), "X-Request-Id": "req-7"})
    assert ok.status_code == 200, ok.text
    assert ok.headers["x-request-id"] == "req-7"
    assert ok.headers["cache-control"] == "no-store"
    assert ok.headers["content-type"] == "application/json"
    assert int(ok.headers["content-length"]) == len(ok.content)

    big = await client.post(TOKEN, headers=dev.exchange_headers(), content=b"{" + b" " * 2_000_000)
    assert big.status_code == 413
    assert big.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert big.json()["requestId"] == big.headers["x-request-id"]

    bad = await client.post(
        TOKEN, headers={**dev.exchange_headers(), "X-Fluide-Scope": "hr:read\x01"}
    )
    assert bad.status_code == 400
    assert bad.json()["errors"] == {"X-Fluide-Scope": ["must be printable ASCII"]}


async def test_an_unexpected_failure_is_the_500_envelope(
    client: httpx.AsyncClient, dev: Dev, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom with a secret-looking fl_sk_value")

    monkeypatch.setattr(tokens, "exchange", broken)
    resp = await client.post(TOKEN, headers=dev.exchange_headers())
    assert resp.status_code == 500
    body = resp.json()
    assert body["code"] == "INTERNAL_ERROR"
    assert body["requestId"] == resp.headers["x-request-id"]
    assert "fl_sk_" not in resp.text


class TestMetrics:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"metrics_public": True}

    async def test_exchanges_are_counted_under_their_route(
        self, client: httpx.AsyncClient, dev: Dev
    ) -> None:
        assert (await client.post(TOKEN, headers=dev.exchange_headers())).status_code == 200
        wrong = dev.exchange_headers(secret="fl_sk_wrong")
        assert (await client.post(TOKEN, headers=wrong)).status_code == 401
        text = (await client.get("/metrics")).text
        for status in (200, 401):
            line = (
                f'fluide_http_requests_total{{method="POST",route="{TOKEN}",status="{status}"}} 1.0'
            )
            assert line in text
