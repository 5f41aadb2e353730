"""Prometheus metrics: per-app registry, counters, and /metrics not anonymous by default."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fluide.app import App
from tests.conftest import Dev, bearer, create_dev, exchange

METRICS_TOKEN = "metrics-token-for-tests-0123456789"


async def test_metrics_are_404_when_not_configured(client: httpx.AsyncClient) -> None:
    resp = await client.get("/metrics")
    assert resp.status_code == 404
    assert resp.json()["code"] == "NOT_FOUND"


class TestWithToken:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"metrics_token": METRICS_TOKEN}

    @pytest.mark.parametrize("auth", [None, "Bearer wrong", f"Basic {METRICS_TOKEN}", "Bearer "])
    async def test_wrong_or_missing_token_is_401(
        self, client: httpx.AsyncClient, auth: str | None
    ) -> None:
        headers = {"Authorization": auth} if auth is not None else {}
        resp = await client.get("/metrics", headers=headers)
        assert resp.status_code == 401
        assert resp.json()["code"] == "METRICS_UNAUTHORIZED"
        assert METRICS_TOKEN not in resp.text

    async def test_counters(self, client: httpx.AsyncClient, runtime: App, dev: Dev) -> None:
        token = (await exchange(client, dev))["accessToken"]
        other = await create_dev(runtime)
        assert (
            await client.get("/api/v1/hr/health", headers=bearer(token, dev))
        ).status_code == 200
        assert (
            await client.get("/api/v1/hr/health", headers=bearer(token, other))
        ).status_code == 401
        assert (await client.get("/api/v1/books/health")).status_code == 401
        assert (
            await client.get("/api/v1/auth-context/abc", headers=bearer(token, dev))
        ).status_code == 404
        bad = {**dev.exchange_headers(), "X-Fluide-Api-Secret": "fl_sk_wrong"}
        assert (await client.post("/api/v1/authorize/token", headers=bad)).status_code == 401
        resp = await client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/plain")
        text = resp.text
        assert (
            'fluide_http_requests_total{method="GET",route="/api/v1/hr/health",status="200"} 1.0'
            in text
        )
        assert (
            'fluide_http_requests_total{method="GET",route="/api/v1/hr/health",status="401"} 1.0'
            in text
        )
        assert (
            'fluide_http_requests_total{method="GET",route="/api/v1/books/health",status="401"} 1.0'
            in text
        )
        # Route templates, not raw paths: no cardinality blow-up from ids in paths.
        assert 'route="/api/v1/auth-context/{jti}",status="404"' in text
        assert "/api/v1/auth-context/abc" not in text
        assert 'fluide_gateway_denials_total{code="API_KEY_MISMATCH"} 1.0' in text
        assert 'fluide_gateway_denials_total{code="AUTHORIZATION_MISSING"} 1.0' in text
        assert 'fluide_token_exchanges_total{status="200"} 1.0' in text
        assert 'fluide_token_exchanges_total{status="401"} 1.0' in text
        assert "fluide_gateway_token_cache_entries 1.0" in text
        assert token not in text and dev.api_key not in text


class TestPublic:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"metrics_public": True}

    async def test_public_metrics_need_no_token(self, client: httpx.AsyncClient) -> None:
        await client.get("/api/v1")
        for i in range(3):  # client-chosen methods and paths do not become labels
            await client.request(f"BREW{i}", f"/nowhere/{i}")
            await client.request(f"BREW{i}", f"/api/v1/hr/{i}")
        resp = await client.get("/metrics")
        assert resp.status_code == 200
        assert "BREW" not in resp.text and "/nowhere" not in resp.text
        assert 'method="OTHER",route="<unmatched>",status="404"} 3.0' in resp.text
        assert 'method="OTHER",route="<unmatched>",status="401"} 3.0' in resp.text
        assert (
            'fluide_http_requests_total{method="GET",route="/api/v1",status="200"} 1.0' in resp.text
        )

    async def test_duration_histogram_by_template_and_process_collectors(
        self, client: httpx.AsyncClient
    ) -> None:
        for i in range(3):
            await client.get(f"/api/v1/hr/employees/emp_{i}")  # refused before routing: 401
        text = (await client.get("/metrics")).text
        route = 'method="GET",route="/api/v1/hr/employees/{employee_id}"'
        assert f"fluide_http_request_duration_seconds_count{{{route}}} 3.0" in text
        assert f'fluide_http_request_duration_seconds_bucket{{le="+Inf",{route}}} 3.0' in text
        assert "emp_0" not in text  # the template, never the raw path
        for family in ("process_cpu_seconds_total", "python_info", "python_gc_objects_collected"):
            assert family in text

    async def test_refusals_of_the_input_limits_are_counted(
        self, client: httpx.AsyncClient
    ) -> None:
        # Answered by the limits layer, before the gateway: still one observation.
        resp = await client.get("/api/v1", headers={"X-Big": "a" * 9000})
        assert resp.status_code == 431
        text = (await client.get("/metrics")).text
        assert 'method="GET",route="<unmatched>",status="431"} 1.0' in text
