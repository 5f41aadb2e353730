"""Each operation's security and scopes are what its route declares, not what its path looks
like."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import APIRouter

from fluide.apidocs import build_openapi
from fluide.apidocs.security import SECURITY, declared
from fluide.app import App
from fluide.catalog import Access
from fluide.gateway import CurrentPrincipal, guarded_router, require_scope
from fluide.gateway.routes import required_scopes, walk
from fluide.identity.deps import AccountSessionDep, PrincipalDep
from tests.apidocs.kinds import classify
from tests.conftest import Dev, bearer, exchange

METHODS = {"get", "put", "post", "delete", "patch"}


def expected_security(access: Access, scopes: list[str]) -> list[dict[str, list[str]]]:
    """What the document must say: a product route's requirement is met by the exchange's token
    or by an OAuth 2.0 client-credentials token holding the route's scopes (issue 16), each with
    the guard's key and client-id headers."""
    if access is not Access.PRODUCT:
        return SECURITY[access]
    oauth = {"oauth2": scopes, "fluideApiKey": [], "fluideClientId": []}
    return [*SECURITY[access], oauth]


async def _doc(client: httpx.AsyncClient) -> dict[str, Any]:
    resp = await client.get("/openapi.json")
    assert resp.status_code == 200
    body: dict[str, Any] = resp.json()
    return body


async def test_every_operation_is_documented_as_its_route_declares(
    app: App, client: httpx.AsyncClient
) -> None:
    doc = await _doc(client)
    routes = {
        (method.lower(), info.path): info
        for info in walk(app.fastapi.routes)
        for method in info.methods
    }
    checked = 0
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method not in METHODS:
                continue
            info = routes[method, path]
            # The guard's own reading of the route (gateway.routes, the start-up check) ...
            scopes = required_scopes(info)
            # ... and the path oracle written apart from the code agree with the document.
            access = classify(path)
            assert op["security"] == expected_security(access, list(scopes)), (method, path)
            assert (access is Access.PRODUCT) == bool(scopes), (method, path)
            if scopes:
                assert op["x-required-scopes"] == scopes, (method, path)
                assert op["x-required-scope"] == " ".join(scopes)
            else:
                assert "x-required-scope" not in op and "x-required-scopes" not in op
            checked += 1
    assert checked >= 45


async def test_a_route_is_documented_by_its_declaration_wherever_it_is_mounted(
    app: App, client: httpx.AsyncClient, dev: Dev
) -> None:
    odd = APIRouter()

    @odd.get("/api/v1/auth/ping")  # under the account prefix, but declares nothing: public
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    @odd.get("/api/v1/extras/notes")  # declares the account session
    async def notes(account: AccountSessionDep) -> dict[str, str]:
        return {"email": account[0].email}

    @odd.get("/api/v1/extras/who", dependencies=[require_scope("utils:read")])
    async def who(principal: CurrentPrincipal) -> dict[str, str]:
        return {"tenant": principal.tenant_id}

    @odd.get("/api/v1/extras/me")
    async def me(principal: PrincipalDep) -> dict[str, str]:
        return {"tenant": principal.tenant_id}

    app.fastapi.include_router(odd)
    app.fastapi.openapi_schema = None
    paths = (await _doc(client))["paths"]
    assert paths["/api/v1/auth/ping"]["get"]["security"] == []
    assert paths["/api/v1/extras/notes"]["get"]["security"] == SECURITY[Access.ACCOUNT]
    extra = paths["/api/v1/extras/who"]["get"]
    assert extra["security"] == expected_security(Access.PRODUCT, ["utils:read"])
    assert extra["x-required-scopes"] == ["utils:read"]
    assert paths["/api/v1/extras/me"]["get"]["security"] == SECURITY[Access.DEVELOPER]

    # What is documented is what is enforced: without credentials the declared routes refuse,
    # with a token the scoped one answers; the undeclared one is open.
    assert (await client.get("/api/v1/auth/ping")).status_code == 200
    for path in ("/api/v1/extras/notes", "/api/v1/extras/who", "/api/v1/extras/me"):
        assert (await client.get(path)).status_code == 401, path
    token = (await exchange(client, dev))["accessToken"]
    resp = await client.get("/api/v1/extras/who", headers=bearer(token, dev))
    assert resp.status_code == 200 and resp.json() == {"tenant": dev.tenant_id}
    headers = {**dev.exchange_headers(), "X-Fluide-Scope": "hr:read"}
    resp = await client.post("/api/v1/authorize/token", headers=headers)
    assert resp.status_code == 200, resp.text
    narrowed = resp.json()["accessToken"]
    resp = await client.get("/api/v1/extras/who", headers=bearer(narrowed, dev))
    assert resp.status_code == 403 and resp.json()["code"] == "INSUFFICIENT_SCOPE"


async def test_a_route_declaring_two_kinds_of_access_is_refused(app: App) -> None:
    router = APIRouter()

    @router.get("/api/v1/both")
    async def both(account: AccountSessionDep, principal: PrincipalDep) -> None: ...

    app.fastapi.include_router(router)
    with pytest.raises(ValueError, match="more than one kind of access"):
        build_openapi(app.fastapi)


def test_a_route_without_a_declaration_is_public_and_scopes_stay_on_product_routes() -> None:
    router = guarded_router("pay")

    @router.get("/x", dependencies=[require_scope("pay:read", "payroll:read")])
    async def x() -> None: ...

    route = router.routes[0]
    found = declared(route)  # type: ignore[arg-type]
    assert found.access is Access.PRODUCT and found.scopes == ("pay:read", "payroll:read")
    assert declared(None).access is Access.PUBLIC
