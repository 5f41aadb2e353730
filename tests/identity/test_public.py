"""``GET /livez`` and ``GET /readyz`` (DESIGN §3.8), and Redis in ``/api/v1/health``.

Liveness never touches a dependency (it answers with the database unreachable, and runs no
query); readiness names what is down with a 503, reads the background probes only, and never
shows a connection string.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import event

from fluide.app import App, create_app
from fluide.identity.schemas import Readiness
from tests.conftest import database_unreachable, make_settings, wait_for_status

DEAD_REDIS = "redis://fluide-user:hunter2-redis-password@127.0.0.1:1/3"


async def test_livez_is_ok_and_not_cached(client: httpx.AsyncClient) -> None:
    resp = await client.get("/livez")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok"}
    assert resp.headers["cache-control"] == "no-store"


async def test_readyz_without_redis_checks_database_and_signing_key(
    client: httpx.AsyncClient,
) -> None:
    resp = await client.get("/readyz")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "status": "ready",
        "checks": {"database": "up", "signingKey": "up"},
        "down": [],
    }
    health = (await client.get("/api/v1/health")).json()
    assert "redis" not in health["checks"]  # not configured: not reported


async def test_database_down_fails_readiness_not_liveness(
    client: httpx.AsyncClient, runtime: App, backend: str, tmp_path: Path
) -> None:
    async with database_unreachable(runtime, backend, tmp_path):
        resp = await wait_for_status(client, "/readyz", 503, runtime.infra.probe.interval * 4)
        assert resp.status_code == 503, resp.text
        assert resp.json() == {
            "status": "not-ready",
            "checks": {"database": "down", "signingKey": "up"},
            "down": ["database"],
        }
        assert "sqlite" not in resp.text and "postgres" not in resp.text
        live = await client.get("/livez")
        assert live.status_code == 200
    resp = await wait_for_status(client, "/readyz", 200, runtime.infra.probe.interval * 4)
    assert resp.status_code == 200


async def test_livez_and_readyz_run_no_query(client: httpx.AsyncClient, runtime: App) -> None:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    await runtime.infra.probe.stop()
    runtime.infra.probe.max_age = 600.0
    event.listen(runtime.infra.engine.sync_engine, "before_cursor_execute", count)
    try:
        for _ in range(20):
            assert (await client.get("/livez")).status_code == 200
            assert (await client.get("/readyz")).status_code == 200
    finally:
        event.remove(runtime.infra.engine.sync_engine, "before_cursor_execute", count)
        await runtime.infra.probe.start()
    assert [s for s in statements if "revocation_events" not in s] == []


async def test_a_secret_header_on_the_probes_is_refused(client: httpx.AsyncClient) -> None:
    # Check 1 holds on every route, probes included.
    for path in ("/livez", "/readyz"):
        resp = await client.get(path, headers={"X-Fluide-Api-Secret": "anything"})
        assert resp.status_code == 400, path
        assert resp.json()["code"] == "API_SECRET_NOT_ALLOWED"


async def _served(settings_dir: Path, database_url: str, redis_url: str) -> App:
    return create_app(make_settings(settings_dir, database_url, redis_url=redis_url))


async def test_redis_down_fails_readiness_without_leaking_its_url(
    tmp_path: Path, database_url: str
) -> None:
    app = await _served(tmp_path, database_url, DEAD_REDIS)
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            ready = await c.get("/readyz")
            health = await c.get("/api/v1/health")
    assert ready.status_code == 503
    assert ready.json() == {
        "status": "not-ready",
        "checks": {"database": "up", "signingKey": "up", "redis": "down"},
        "down": ["redis"],
    }
    # Health stays the balancer's target: the database answers, so 200, with Redis reported.
    assert health.status_code == 200
    assert health.json()["checks"]["redis"] == "down"
    for resp in (ready, health):
        for fragment in ("hunter2", "fluide-user", "127.0.0.1:1", "redis://"):
            assert fragment not in resp.text


@pytest.mark.redis
async def test_redis_up_is_ready(tmp_path: Path, database_url: str, redis_url: str) -> None:
    app = await _served(tmp_path, database_url, redis_url)
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            ready = await c.get("/readyz")
            health = await c.get("/api/v1/health")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "up", "signingKey": "up", "redis": "up"}
    assert health.json()["checks"]["redis"] == "up"


@given(st.dictionaries(st.sampled_from(["database", "signingKey", "redis"]), st.booleans()))
def test_readiness_body_names_exactly_what_is_down(checks: dict[str, bool]) -> None:
    body = Readiness.model_validate_json(Readiness.body(**checks))
    assert body.down == [name for name, up in checks.items() if not up]
    assert (body.status == "ready") == all(checks.values())
    assert body.checks == {name: "up" if up else "down" for name, up in checks.items()}
