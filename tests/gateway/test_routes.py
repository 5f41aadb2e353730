"""Every route under a product prefix is guarded; an unguarded one stops the app from starting."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter

from fluide.app import App, create_app
from fluide.gateway import CurrentPrincipal, guarded_router, require_scope
from fluide.gateway.routes import (
    PRODUCT_PREFIXES,
    UnguardedRouteError,
    assert_guarded,
    is_product_path,
    walk,
)
from fluide.settings import Settings
from tests.conftest import Dev, bearer, create_dev, exchange, make_settings


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", path)


async def test_every_product_route_refuses_a_request_without_headers(
    app: App, client: httpx.AsyncClient
) -> None:
    checked = 0
    for info in walk(app.fastapi.routes):
        if not is_product_path(info.path):
            continue
        for method in sorted(info.methods) or ["GET"]:
            resp = await client.request(method, _concrete(info.path))
            assert resp.status_code == 401, (method, info.path, resp.status_code)
            if method != "HEAD":
                assert resp.json()["code"] == "AUTHORIZATION_MISSING", (method, info.path)
            assert resp.headers["www-authenticate"] == "Bearer"
            checked += 1
    # The five health checks at least: the walk cannot pass by finding nothing.
    assert checked >= 5
    for prefix in PRODUCT_PREFIXES:
        assert any(info.path == f"{prefix}/health" for info in walk(app.fastapi.routes))


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/hr/nope",
        "/api/v1/payroll/",
        "/api/v1/books",
        "/api/v1/utilsx",
        "/api/v1/hr/health/",
    ],
)
async def test_unknown_paths_under_a_prefix_are_guarded_too(
    client: httpx.AsyncClient, path: str
) -> None:
    resp = await client.get(path)
    assert resp.status_code == 401
    assert resp.json()["code"] == "AUTHORIZATION_MISSING"


async def test_public_routes_stay_public(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1")).status_code == 200
    assert (await client.get("/.well-known/jwks.json")).status_code == 200


def _settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")


def test_the_app_as_built_is_guarded(tmp_path: Path) -> None:
    assert_guarded(create_app(_settings(tmp_path)).fastapi)


def test_a_route_without_scope_stops_the_app(tmp_path: Path) -> None:
    app = create_app(_settings(tmp_path))
    router = guarded_router("hr")

    @router.get("/sneaky")
    async def sneaky() -> dict[str, str]:
        return {"leak": "yes"}

    app.fastapi.include_router(router)
    with pytest.raises(UnguardedRouteError, match="/api/v1/hr/sneaky"):
        assert_guarded(app.fastapi)


def test_a_plain_router_under_a_product_prefix_stops_the_app(tmp_path: Path) -> None:
    app = create_app(_settings(tmp_path))
    router = APIRouter(prefix="/api/v1/payroll")
    router.add_api_route("/export", lambda: {}, methods=["GET"])
    app.fastapi.include_router(router)
    with pytest.raises(UnguardedRouteError, match="/api/v1/payroll/export"):
        assert_guarded(app.fastapi)


def test_a_starlette_route_or_mount_under_a_prefix_stops_the_app(tmp_path: Path) -> None:
    from starlette.responses import PlainTextResponse
    from starlette.staticfiles import StaticFiles

    app = create_app(_settings(tmp_path))
    app.fastapi.add_route("/api/v1/books/raw", lambda request: PlainTextResponse("x"))
    with pytest.raises(UnguardedRouteError, match="/api/v1/books/raw"):
        assert_guarded(app.fastapi)
    app = create_app(_settings(tmp_path))
    app.fastapi.mount("/api/v1", StaticFiles(directory=tmp_path))
    with pytest.raises(UnguardedRouteError, match="mount"):
        assert_guarded(app.fastapi)


async def test_an_unguarded_route_fails_at_start(settings: Settings) -> None:
    app = create_app(settings)
    app.fastapi.add_api_route("/api/v1/utils/debug", lambda: {}, methods=["GET"])
    with pytest.raises(UnguardedRouteError):
        async with app.lifespan():
            pass


def test_building_an_app_with_an_unscoped_product_route_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fluide import products

    def routers() -> list[APIRouter]:
        r = guarded_router("utils")
        r.add_api_route(
            "/ok", lambda: {}, methods=["GET"], dependencies=[require_scope("utils:read")]
        )
        r.add_api_route("/bad", lambda: {}, methods=["POST"])
        return [r]

    monkeypatch.setattr(products, "routers", routers)
    monkeypatch.setattr("fluide.app.product_routers", routers)
    with pytest.raises(UnguardedRouteError, match="/api/v1/utils/bad"):
        create_app(_settings(tmp_path))


def test_guarded_router_refuses_unknown_products() -> None:
    with pytest.raises(ValueError, match="unknown product"):
        guarded_router("crm")


async def test_a_product_route_reads_the_principal(settings: Settings) -> None:
    app = create_app(settings)
    router = guarded_router("books")

    @router.get("/whoami", dependencies=[require_scope("books:read")])
    async def whoami(principal: CurrentPrincipal) -> dict[str, str]:
        return {"tenantId": principal.tenant_id, "credentialId": principal.credential_id}

    app.fastapi.include_router(router)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.lifespan(),
        httpx.AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        dev = await create_dev(app)
        token = (await exchange(client, dev))["accessToken"]
        resp = await client.get("/api/v1/books/whoami", headers=bearer(token, dev))
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"tenantId": dev.tenant_id, "credentialId": dev.credential_id}
        assert resp.headers["x-ratelimit-limit"]
        assert (await client.get("/api/v1/books/whoami")).status_code == 401


def test_a_guarded_route_declares_one_scope() -> None:
    router = guarded_router("hr")
    with pytest.raises(ValueError, match="one require_scope"):
        router.add_api_route(
            "/twice",
            lambda: {},
            methods=["GET"],
            dependencies=[require_scope("hr:read"), require_scope("hr:write")],
        )


async def test_require_scope_outside_a_guarded_router_is_a_dependency(
    app: App, client: httpx.AsyncClient, dev: Dev
) -> None:
    # A route of the app's own (not under a product prefix, so the middleware does not guard
    # it) can still demand a scope: the dependency authenticates and checks 11-12 itself.
    router = APIRouter(prefix="/api/v1/extra")

    @router.get("/scoped", dependencies=[require_scope("hr:read")])
    async def scoped(principal: CurrentPrincipal) -> dict[str, str]:
        return {"credentialId": principal.credential_id}

    app.fastapi.include_router(router)
    assert (await client.get("/api/v1/extra/scoped")).status_code == 401
    token = (await exchange(client, dev))["accessToken"]
    resp = await client.get("/api/v1/extra/scoped", headers=bearer(token, dev))
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"credentialId": dev.credential_id}
    narrow = await client.post(
        "/api/v1/authorize/token",
        headers={**dev.exchange_headers(), "X-Fluide-Scope": "pay:read"},
    )
    resp = await client.get(
        "/api/v1/extra/scoped", headers=bearer(narrow.json()["accessToken"], dev)
    )
    assert resp.status_code == 403 and resp.json()["code"] == "INSUFFICIENT_SCOPE"
    # Act-as headers are checked here as on product routes, never ignored: one alone is a 400,
    # and a business tenant's token (no partner:client:act-as) acting for anyone is a 403.
    resp = await client.get(
        "/api/v1/extra/scoped", headers={**bearer(token, dev), "X-Workspace-Id": "wks_1"}
    )
    assert resp.status_code == 400 and resp.json()["code"] == "VALIDATION_FAILED"
    acting = {"X-Workspace-Id": "wks_1", "X-Acting-Company-Id": "cmp_1"}
    resp = await client.get("/api/v1/extra/scoped", headers={**bearer(token, dev), **acting})
    assert resp.status_code == 403 and resp.json()["code"] == "INSUFFICIENT_SCOPE"
