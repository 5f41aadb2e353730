"""Routers that refuse a path at a glance (kit.routing): same answers as FastAPI's own
matching, without trying their routes for paths that cannot be theirs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import Scope

from fluide.kit.routing import PrefixRouter, StaticRouter

TRIED: list[str] = []


class CountingRoute(APIRoute):
    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        TRIED.append(self.path)
        return super().matches(scope)


def _app() -> FastAPI:
    app = FastAPI()
    static = StaticRouter(route_class=CountingRoute)
    prefixed = PrefixRouter(prefix="/api/v1/hr", route_class=CountingRoute)

    @static.get("/api/v1/health")
    async def health() -> dict[str, Any]:
        return {"ok": True}

    @prefixed.get("/employees/{eid}")
    async def employee(eid: str) -> dict[str, Any]:
        return {"id": eid}

    @prefixed.get("")
    async def root() -> dict[str, Any]:
        return {"root": True}

    app.include_router(static)
    app.include_router(prefixed)
    return app


async def _get(app: FastAPI, path: str, method: str = "GET") -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.request(method, path, follow_redirects=False)


async def test_answers_are_fastapi_s() -> None:
    app = _app()
    assert (await _get(app, "/api/v1/health")).json() == {"ok": True}
    assert (await _get(app, "/api/v1/hr/employees/e1")).json() == {"id": "e1"}
    assert (await _get(app, "/api/v1/hr")).json() == {"root": True}
    assert (await _get(app, "/api/v1/hrx/employees/e1")).status_code == 404  # not the prefix
    assert (await _get(app, "/api/v1/health", "POST")).status_code == 405  # path known
    redirect = await _get(app, "/api/v1/health/")  # FastAPI's trailing-slash redirect
    assert redirect.status_code == 307
    assert redirect.headers["location"].endswith("/api/v1/health")


async def test_paths_that_cannot_be_theirs_try_no_route() -> None:
    app = _app()
    TRIED.clear()
    await _get(app, "/api/v1/hr/employees/e1")
    assert "/api/v1/health" not in TRIED  # the static router refused without trying it
    TRIED.clear()
    await _get(app, "/api/v1/health")
    assert set(TRIED) == {"/api/v1/health"}  # the prefix router was never asked to try its routes


def test_a_static_router_refuses_path_parameters() -> None:
    router = StaticRouter()

    @router.get("/items/{item_id}")
    async def item(item_id: str) -> dict[str, Any]:
        return {}

    with pytest.raises(ValueError, match="path parameters"):
        router.matches({"type": "http", "path": "/items/1", "root_path": ""})
