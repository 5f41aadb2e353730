"""Every product route passes the guard, declares the scope of its own product first, and the
read scope of every other product whose data its response reveals (DESIGN §4)."""

from __future__ import annotations

from fastapi.routing import APIRoute

from fluide.gateway.guard import GuardedRoute, route_scopes
from fluide.gateway.routes import is_product_path
from fluide.products import routers

PRODUCTS = ("hr", "payroll", "pay", "books", "utils")

# The routes that reveal another product's data, and the read scopes they add. A route added
# here or missing from here is a decision: docs/architecture.md ("Scopes across products").
CROSS_PRODUCT = {
    ("POST", "/api/v1/payroll/runs"): ["hr:read"],
    ("POST", "/api/v1/pay/payroll-runs/{run_id}/disburse"): ["payroll:read"],
    ("GET", "/api/v1/utils/documents/payslips/{payslip_id}.pdf"): ["payroll:read"],
}


def test_every_product_route_is_guarded_and_scoped() -> None:
    seen = 0
    crossing: dict[tuple[str, str], list[str]] = {}
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
            own, others = scopes[0], scopes[1:]
            assert own.split(":")[0] == product, (route.path, scopes)
            if route.methods & {"POST", "PUT", "PATCH", "DELETE"}:
                assert own.endswith(":write"), route.path
            for other in others:
                # Another product's data is read, never written, through this route.
                name, _, access = other.partition(":")
                assert name in PRODUCTS and name != product and access == "read", scopes
            if others:
                for method in route.methods:
                    crossing[method, route.path] = others
    assert seen >= 30
    assert crossing == CROSS_PRODUCT
