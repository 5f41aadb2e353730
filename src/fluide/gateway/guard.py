"""The guard's public face for products.

Checks 1–10 (who calls) run in ``GatewayMiddleware`` for every path under a product prefix,
before routing. Checks 11 (scope) and 12 (per-key rate limit) run in ``require_scope``, which
every product route must declare: the app refuses to start otherwise (``gateway.routes``).

Products build their routers with ``guarded_router(product)``, give every route
``dependencies=[require_scope("…")]`` and read the caller with ``CurrentPrincipal``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from fluide.identity.errors import ApiSecretNotAllowed, InsufficientScope
from fluide.identity.principal import Principal, authenticate
from fluide.kit.errors import RateLimited
from fluide.kit.routing import PrefixRouter
from fluide.runtime import get_runtime

PRODUCT_TAGS = {"hr": "HR", "payroll": "Payroll", "pay": "Pay", "books": "Books", "utils": "Utils"}


def guard(request: Request) -> Principal:
    """Checks 1–10 without the middleware (slow path, no cache): only for an app built without
    ``install_gateway``, which ``assert_guarded`` refuses; kept so a principal is never faked."""
    rt = get_runtime(request)
    h = request.headers
    if "x-fluide-api-secret" in h:
        raise ApiSecretNotAllowed
    principal = authenticate(
        authorization=h.get("authorization"),
        api_key=h.get("x-fluide-api-key"),
        client_id=h.get("x-fluide-client-id"),
        keyset=rt.keyset,
        view=rt.view,
        issuer=rt.settings.issuer,
        now=rt.clock().timestamp(),
        leeway=rt.settings.token_leeway_seconds,
        require_api_key=True,
    )
    request.scope.setdefault("state", {})["principal"] = principal
    return principal


async def current_principal(request: Request) -> Principal:
    # async on purpose: FastAPI runs a plain ``def`` dependency in the thread pool.
    principal = request.scope.get("state", {}).get("principal")
    if not isinstance(principal, Principal):
        return guard(request)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_scope(scope: str) -> Any:
    """Checks 11 (scope) and 12 (per-key rate limit) for one route."""

    async def check(request: Request) -> None:
        state = request.scope.setdefault("state", {})
        principal = state.get("principal")
        if not isinstance(principal, Principal):
            principal = guard(request)
        if scope not in principal.scopes:
            state["denial"] = InsufficientScope.code
            raise InsufficientScope(scope)
        if "ratelimit_headers" in state:  # a second require_scope on the same route
            return
        gateway = getattr(request.app.state, "gateway", None)
        if gateway is None:
            rt = get_runtime(request)
            decision = await rt.limiter.hit(
                rt.settings.product_rate_limit, "pkey", principal.api_key
            )
            if not decision.allowed:
                raise RateLimited(decision.retry_after, headers=decision.headers())
            return
        decision = await gateway.limiter.hit(principal.api_key)
        if not decision.allowed:
            state["denial"] = RateLimited.code
            raise RateLimited(decision.retry_after, headers=decision.headers())
        state["ratelimit_headers"] = gateway.limiter.raw_headers(decision)

    check.required_scope = scope  # type: ignore[attr-defined]
    return Depends(check)


def guarded_router(product: str) -> APIRouter:
    """An APIRouter under ``/api/v1/<product>``: every route behind it passes the guard."""
    if product not in PRODUCT_TAGS:
        raise ValueError(f"unknown product {product!r}")
    # A PrefixRouter refuses a path outside /api/v1/<product> at once (kit.routing).
    return PrefixRouter(prefix=f"/api/v1/{product}", tags=[PRODUCT_TAGS[product]])
