"""State survives a restart of the service: keys, credentials, tokens, revocations."""

from __future__ import annotations

import httpx

from fluide.app import App, create_app
from fluide.kit.clock import FrozenClock
from fluide.settings import Settings
from tests.conftest import bearer, create_dev


async def _client(app: App) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_state_survives_a_restart(settings: Settings, clock: FrozenClock) -> None:
    first = create_app(settings, clock)
    async with first.lifespan(), await _client(first) as client:
        dev = await create_dev(first)
        kept = (await client.post("/api/v1/authorize/token", headers=dev.exchange_headers())).json()
        gone = (await client.post("/api/v1/authorize/token", headers=dev.exchange_headers())).json()
        assert (
            await client.post("/api/v1/authorize/revoke", headers=bearer(gone["accessToken"]))
        ).status_code == 204
        jwks = (await client.get("/.well-known/jwks.json")).json()

    second = create_app(settings, clock)
    async with second.lifespan(), await _client(second) as client:
        assert (await client.get("/.well-known/jwks.json")).json() == jwks
        resp = await client.get("/api/v1/authorize/current", headers=bearer(kept["accessToken"]))
        assert resp.status_code == 200
        resp = await client.get("/api/v1/authorize/current", headers=bearer(gone["accessToken"]))
        assert resp.json()["code"] == "TOKEN_REVOKED"
        resp = await client.post("/api/v1/authorize/token", headers=dev.exchange_headers())
        assert resp.status_code == 200
