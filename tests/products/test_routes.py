"""Every product route passes the guard and declares one scope of its own product."""

from __future__ import annotations

from fastapi.routing import APIRoute

from fluide.gateway.guard import GuardedRoute, route_scopes
from fluide.gateway.routes import is_product_path
from fluide.products import routers

PRODUCTS = ("hr", "payroll", "pay", "books", "utils")


def test_every_product_route_is_guarded_and_scoped() -> None:
    seen = 0
    for router in routers():
        product = router.prefix.removeprefix("/api/v1/")
        assert product in PRODUCTS
        # The gateway middleware guards every path under a product prefix (checks 1-10).
        assert is_product_path(router.prefix + "/"), router.prefix
        for route in router.routes:
            assert isinstance(route, APIRoute)
            seen += 1
            # The router's GuardedRoute took the declaration off the dependency list.
            assert isinstance(route, GuardedRoute)
            scopes = route_scopes(route, route.dependencies)
            assert len(scopes) == 1, (route.path, scopes)
            assert scopes[0].split(":")[0] == product, (route.path, scopes)
            if route.methods & {"POST", "PUT", "PATCH", "DELETE"}:
                assert scopes[0].endswith(":write"), route.path
    assert seen >= 30
