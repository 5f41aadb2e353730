"""The guard. Router-level: checks 1–10 (who calls). Route-level: scope (11), rate limit (12).

Products build their routers with ``guarded_router(product)`` and give every route
``dependencies=[require_scope("…")]``; the principal is read with ``CurrentPrincipal``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from fluide.identity.errors import ApiSecretNotAllowed, InsufficientScope
from fluide.identity.principal import Principal, authenticate
from fluide.kit.errors import RateLimited
from fluide.runtime import get_runtime

PRODUCT_TAGS = {"hr": "HR", "payroll": "Payroll", "pay": "Pay", "books": "Books", "utils": "Utils"}


def guard(request: Request) -> Principal:
    """Checks 1–10 of DESIGN §3.5, in order, from memory only."""
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


def current_principal(request: Request) -> Principal:
    principal = request.scope.get("state", {}).get("principal")
    if not isinstance(principal, Principal):  # only reachable on a route mounted unguarded
        return guard(request)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_scope(scope: str) -> Any:
    """Checks 11 (scope) and 12 (per-key rate limit) for one route."""

    async def check(request: Request, principal: CurrentPrincipal) -> None:
        if scope not in principal.scopes:
            raise InsufficientScope(scope)
        rt = get_runtime(request)
        decision = await rt.limiter.hit(rt.settings.product_rate_limit, "pkey", principal.api_key)
        if not decision.allowed:
            raise RateLimited(decision.retry_after, headers=decision.headers())

    check.required_scope = scope  # type: ignore[attr-defined]
    return Depends(check)


def guarded_router(product: str) -> APIRouter:
    """An APIRouter under ``/api/v1/<product>`` on which every route passes the guard."""
    if product not in PRODUCT_TAGS:
        raise ValueError(f"unknown product {product!r}")
    return APIRouter(
        prefix=f"/api/v1/{product}", tags=[PRODUCT_TAGS[product]], dependencies=[Depends(guard)]
    )
