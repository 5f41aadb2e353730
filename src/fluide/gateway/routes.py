"""Walking the app's routes: every route under a product prefix must be guarded and scoped.

``assert_guarded`` runs when the app is built and again when it starts; it fails loudly
(``UnguardedRouteError``) on a route under a product prefix that has no ``require_scope``,
and on anything else mounted there (plain Starlette routes, websockets, mounts). That the
guard's middleware runs before routing is the pipeline's shape (``fluide.app``): FastAPI is
only ever reached through it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Mount, compile_path

from fluide.catalog import PRODUCT_PREFIXES
from fluide.gateway.guard import route_scopes

# The token exchange (DESIGN §3.2) and its legacy alias: the only routes that take
# ``X-Fluide-Api-Secret`` (check 1 refuses it everywhere else). Kept equal to the exchange
# router's paths by tests/gateway/test_exposure.py.
EXCHANGE_PATHS = frozenset({"/api/v1/authorize/token", "/api/v1/developer-access/token"})


class UnguardedRouteError(RuntimeError):
    """A route under a product prefix would not pass the whole guard."""


def is_product_path(path: str) -> bool:
    # A bare prefix match on purpose: ``/api/v1/hrx`` is guarded too (401, not a 404 that
    # tells a scanner what exists), and nothing public lives under these strings.
    return path.startswith(PRODUCT_PREFIXES)


@dataclass(frozen=True)
class RouteInfo:
    path: str
    methods: frozenset[str]
    route: BaseRoute  # the route object FastAPI puts in ``scope["route"]``
    dependencies: tuple[Any, ...]


def walk(routes: Sequence[BaseRoute]) -> Iterator[RouteInfo]:
    """Every route with its full path and effective dependencies (included routers expanded)."""
    try:
        from fastapi.routing import iter_route_contexts  # type: ignore[attr-defined,unused-ignore]
    except ImportError:  # FastAPI before lazy included routers: app.routes is already flat
        for route in routes:
            yield RouteInfo(
                getattr(route, "path", "") or "",
                frozenset(getattr(route, "methods", None) or ()),
                route,
                tuple(getattr(route, "dependencies", ()) or ()),
            )
        return
    for ctx in iter_route_contexts(routes):
        original = ctx.original_route
        try:
            deps = tuple(ctx.dependencies or ())
        except AttributeError:
            deps = ()
        yield RouteInfo(ctx.path or "", frozenset(ctx.methods or ()), original, deps)


def required_scopes(info: RouteInfo) -> list[str]:
    return route_scopes(info.route, info.dependencies)


def unguarded(app: FastAPI) -> list[str]:
    problems = []
    for info in walk(app.routes):
        route, path = info.route, info.path
        if isinstance(route, Mount):
            base = path.rstrip("/")
            if is_product_path(base) or any(p.startswith(base + "/") for p in PRODUCT_PREFIXES):
                problems.append(f"mount {path or '/'} covers a product prefix")
            continue
        if not is_product_path(path):
            continue
        if not isinstance(route, APIRoute):
            problems.append(f"{path}: {type(route).__name__} under a product prefix")
        elif not required_scopes(info):
            problems.append(f"{sorted(info.methods)} {path}: no require_scope(...)")
    return problems


def assert_guarded(app: FastAPI) -> None:
    problems = unguarded(app)
    if problems:
        raise UnguardedRouteError("unguarded product routes: " + "; ".join(problems))


def product_templates(app: FastAPI) -> tuple[dict[int, str], list[tuple[re.Pattern[str], str]]]:
    """Route object id → full template (for metrics), and the product routes' regexes."""
    by_route: dict[int, str] = {}
    product: list[tuple[re.Pattern[str], str]] = []
    for info in walk(app.routes):
        if not info.path:
            continue
        by_route.setdefault(id(info.route), info.path)
        if is_product_path(info.path) and isinstance(info.route, APIRoute):
            product.append((compile_path(info.path)[0], info.path))
    return by_route, product
