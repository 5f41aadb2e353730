"""Public ``GET /api/v1/health``: shape, 503 when the database is down (within the probe's
interval), back to 200 when it returns, and no database query per call: it reads the runtime's
background probe (``kit.probe``), the same one the product health routes read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event

from fluide.app import App
from tests.conftest import database_unreachable, wait_for_status

HEALTH = "/api/v1/health"


async def _wait_for(client: httpx.AsyncClient, status: int, deadline: float) -> httpx.Response:
    return await wait_for_status(client, HEALTH, status, deadline)


async def test_health_is_public_and_up(client: httpx.AsyncClient) -> None:
    resp = await client.get(HEALTH)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "status": "ok",
        "service": "fluide-auth",
        "checks": {"database": "up", "signingKey": "up"},
    }


async def test_health_is_503_when_the_database_is_unreachable(
    client: httpx.AsyncClient, runtime: App, backend: str, tmp_path: Path
) -> None:
    async with database_unreachable(runtime, backend, tmp_path):
        # A connection refused fails the next probe at once: down within ~one interval.
        resp = await _wait_for(client, 503, runtime.infra.probe.interval * 4)
        assert resp.status_code == 503, resp.text
        assert resp.json() == {
            "status": "error",
            "service": "fluide-auth",
            "checks": {"database": "down", "signingKey": "up"},
        }
    assert (await _wait_for(client, 200, runtime.infra.probe.interval * 4)).status_code == 200


async def test_health_does_not_query_the_database_per_call(
    client: httpx.AsyncClient, runtime: App
) -> None:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    await runtime.infra.probe.stop()  # its one query per tick would muddy the count
    runtime.infra.probe.max_age = 600.0  # and its last result stays fresh while it is stopped
    event.listen(runtime.infra.engine.sync_engine, "before_cursor_execute", count)
    try:
        for _ in range(40):
            assert (await client.get(HEALTH)).status_code == 200
    finally:
        event.remove(runtime.infra.engine.sync_engine, "before_cursor_execute", count)
        await runtime.infra.probe.start()
    # Only the revocation poll (a background task) may have queried meanwhile.
    assert [s for s in statements if "revocation_events" not in s] == []
