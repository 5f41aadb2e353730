"""Guarded health checks of the five products: shape, scope, 503 when the database is down,
and no database query per call (the status comes from the runtime's background probe)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import event

from fluide.app import App
from tests.conftest import Dev, bearer, database_unreachable, exchange, wait_for_status

PRODUCTS = ("hr", "payroll", "pay", "books", "utils")


@pytest.mark.parametrize("product", PRODUCTS)
async def test_health_with_a_valid_token(client: httpx.AsyncClient, dev: Dev, product: str) -> None:
    headers = bearer((await exchange(client, dev))["accessToken"], dev)
    resp = await client.get(f"/api/v1/{product}/health", headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "status": "ok",
        "service": f"fluide-{product}",
        "checks": {"database": "up"},
    }
    assert "x-ratelimit-limit" in resp.headers


@pytest.mark.parametrize("product", PRODUCTS)
async def test_health_without_headers_is_refused(client: httpx.AsyncClient, product: str) -> None:
    resp = await client.get(f"/api/v1/{product}/health")
    assert resp.status_code == 401
    assert resp.json()["code"] == "AUTHORIZATION_MISSING"


async def test_health_needs_the_products_read_scope(client: httpx.AsyncClient, dev: Dev) -> None:
    resp = await client.post(
        "/api/v1/authorize/token", headers={**dev.exchange_headers(), "X-Fluide-Scope": "hr:read"}
    )
    headers = bearer(resp.json()["accessToken"], dev)
    assert (await client.get("/api/v1/hr/health", headers=headers)).status_code == 200
    resp = await client.get("/api/v1/payroll/health", headers=headers)
    assert resp.status_code == 403
    assert resp.json()["code"] == "INSUFFICIENT_SCOPE"
    assert "payroll:read" in resp.json()["message"]


async def _wait_for(
    client: httpx.AsyncClient, headers: dict[str, str], status: int, deadline: float = 5.0
) -> httpx.Response:
    return await wait_for_status(client, "/api/v1/hr/health", status, deadline, headers)


async def test_health_is_503_when_the_database_is_unreachable(
    client: httpx.AsyncClient, runtime: App, dev: Dev, backend: str, tmp_path: Any
) -> None:
    headers = bearer((await exchange(client, dev))["accessToken"], dev)
    assert (await client.get("/api/v1/hr/health", headers=headers)).status_code == 200
    async with database_unreachable(runtime, backend, tmp_path):
        resp = await _wait_for(client, headers, 503)
        assert resp.status_code == 503, resp.text
        assert resp.json() == {
            "status": "error",
            "service": "fluide-hr",
            "checks": {"database": "down"},
        }
    assert (await _wait_for(client, headers, 200)).status_code == 200


async def test_health_does_not_query_the_database_per_call(
    client: httpx.AsyncClient, runtime: App, dev: Dev
) -> None:
    headers = bearer((await exchange(client, dev))["accessToken"], dev)
    probe = runtime.infra.probe
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    await probe.stop()  # its one query per tick would muddy the count
    probe.max_age = 600.0  # and its last result stays fresh while it is stopped
    event.listen(runtime.infra.engine.sync_engine, "before_cursor_execute", count)
    try:
        for _ in range(40):
            resp = await client.get("/api/v1/hr/health", headers=headers)
            assert resp.status_code == 200
    finally:
        event.remove(runtime.infra.engine.sync_engine, "before_cursor_execute", count)
        await probe.start()
    # Only the revocation poll (a background task) may have queried meanwhile.
    assert [s for s in statements if "revocation_events" not in s] == []
