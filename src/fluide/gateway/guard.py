"""The guard's public face for products.

Checks 1–10 (who calls) run in ``GatewayMiddleware`` for every path under a product prefix,
before routing. Checks 11 (scope) and 12 (per-key rate limit) need the route: every product
route declares its scopes with ``require_scope``, and the app refuses to start otherwise
(``gateway.routes``).

Products build their routers with ``guarded_router(product)``, give every route
``dependencies=[require_scope("…")]`` (one declaration; it may name several scopes, all
required) and read the caller with ``CurrentPrincipal``. On a
guarded router that declaration is taken off the dependency list by ``GuardedRoute``, which
runs checks 11 and 12 itself once routing has picked the route and before anything of the
route's own runs (body, parameters, dependencies): FastAPI's dependency machinery costs more
than the checks. On any other router ``require_scope`` stays an ordinary dependency that does
the same checks.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.params import Depends as DependsParam
from fastapi.routing import APIRoute
from starlette.types import Receive, Scope, Send

from fluide import catalog
from fluide.catalog import ALL_SCOPES, Access, declares
from fluide.identity.authn import check_caller, read_headers
from fluide.identity.deps import identity_state
from fluide.identity.errors import InsufficientScope
from fluide.identity.partners.acting import acting_caller
from fluide.identity.principal import Principal
from fluide.kit.errors import AppError, RateLimited, app_error_response
from fluide.kit.middleware import RESPONSE_HEADERS as RATELIMIT_HEADERS
from fluide.kit.routing import PrefixRouter
from fluide.kit.uow import get_infra

# The request state's key for the gateway that guarded the request (set with the principal by
# ``GatewayMiddleware``): checks 11 and 12 then need neither a ``Request`` nor ``app.state``.
GATEWAY = "gateway"


def guard(request: Request) -> Principal:
    """Checks 2–10 (``identity.authn``, no cache) and the act-as check (DESIGN §3.7) for a route
    the middleware did not guard: one outside the product prefixes that declares
    ``require_scope`` anyway. (Check 1 ran in the middleware, as for every request but the
    exchange.) Act-as headers are checked here too: never ignored, whatever the route."""
    state = identity_state(request)
    raw = request.scope["headers"]
    principal = check_caller(
        read_headers(raw),
        state,
        get_infra(request).clock().timestamp(),
        peer=request.client.host if request.client else None,
    )
    principal = acting_caller(principal, raw, state.tenancy)
    request.scope.setdefault("state", {})["principal"] = principal
    return principal


async def current_principal(request: Request) -> Principal:
    # async on purpose: FastAPI runs a plain ``def`` dependency in the thread pool.
    principal = request.scope.get("state", {}).get("principal")
    if not isinstance(principal, Principal):
        return guard(request)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def check_scopes(principal: Principal, required: tuple[str, ...], need: frozenset[str]) -> None:
    """Check 11: every scope in ``required`` (``need``, as a set), or ``InsufficientScope``
    naming the first one missing. Product routes and the decision endpoint both run it."""
    # One subset test (C): it costs what one ``scope in principal.scopes`` did.
    if not need <= principal.scopes:
        raise InsufficientScope(next(s for s in required if s not in principal.scopes))


async def _check_scope_and_limit(
    scope: Scope, required: tuple[str, ...], need: frozenset[str]
) -> None:
    """Checks 11 (every scope in ``required``, as the set ``need``) and 12 (per-key rate
    limit) for a route, on the scope alone: no ``Request`` is built on the guarded path."""
    state = scope.get("state")
    if state is None:
        state = scope["state"] = {}
    principal = state.get("principal")
    if not isinstance(principal, Principal):
        # Not guarded by the middleware (a route outside the product prefixes): checks 2-10.
        principal = guard(Request(scope))
    if not need <= principal.scopes:
        state["denial"] = InsufficientScope.code
        check_scopes(principal, required, need)
    if RATELIMIT_HEADERS in state:  # a second require_scope on the same route, or a re-run
        return
    gateway = state.get(GATEWAY)
    if gateway is None:
        gateway = getattr(scope["app"].state, "gateway", None)
    if gateway is None:  # an app without the gateway (a bare app in tests): the kit's limiter
        infra = get_infra(Request(scope))
        decision = await infra.limiter.hit(
            infra.settings.product_rate_limit, "pkey", principal.api_key
        )
        if not decision.allowed:
            raise RateLimited(decision.retry_after, headers=decision.headers())
        state[RATELIMIT_HEADERS] = []
        return
    limiter = gateway.limiter_for(principal.credential_id)
    if limiter.shared is None:  # one process: a dict bump, nothing to await
        decision = limiter.hit_memory(principal.api_key, time.time())
    else:
        decision = await limiter.shared.hit(principal.api_key)
    if not decision.allowed:
        state["denial"] = RateLimited.code
        raise RateLimited(decision.retry_after, headers=decision.headers())
    # Added to the answer's first message by the outermost layer (kit.middleware).
    state[RATELIMIT_HEADERS] = limiter.raw_headers(decision)


def require_scope(scope: str, *also: str) -> Any:
    """Declare the scopes a product route demands: all of them (checks 11 and 12 run for it).

    ``scope`` is the route's own product's; ``also`` names the read scopes of the other
    products whose data the response reveals (DESIGN §4), e.g.
    ``require_scope("utils:read", "payroll:read")``. A token missing any of them gets 403
    ``INSUFFICIENT_SCOPE`` naming the first one missing, in this order.
    """
    required = tuple(dict.fromkeys((scope, *also)))  # order kept, repeats dropped
    if not all(required):
        raise ValueError("require_scope needs non-empty scope names")
    unknown = [s for s in required if s not in ALL_SCOPES]
    if unknown:  # a typo would lock every caller out: refuse it when the route is declared
        raise ValueError(f"require_scope: no such scope {unknown} (fluide.catalog.ALL_SCOPES)")

    need = frozenset(required)

    @declares(Access.PRODUCT)
    async def check(request: Request) -> None:
        await _check_scope_and_limit(request.scope, required, need)

    check.required_scopes = required  # type: ignore[attr-defined]
    return Depends(check)


def _declared_scopes(dep: object) -> tuple[str, ...] | None:
    scopes = getattr(getattr(dep, "dependency", None), "required_scopes", None)
    return scopes if isinstance(scopes, tuple) and scopes else None


# endpoint → its declared scopes: FastAPI versions that copy a route when its router is included
# rebuild it from ``route.dependencies``, where the declaration no longer is.
_SCOPES_OF_ENDPOINT: weakref.WeakKeyDictionary[Callable[..., Any], tuple[str, ...]] = (
    weakref.WeakKeyDictionary()
)


class GuardedRoute(APIRoute):
    """A product route: checks 11 and 12 run in ``handle``, not as a FastAPI dependency."""

    required_scopes: tuple[str, ...] | None
    _need: frozenset[str]

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        dependencies: Sequence[DependsParam] | None = None,
        **kwargs: Any,
    ) -> None:
        deps = list(dependencies or ())
        declared = [s for d in deps if (s := _declared_scopes(d))]
        if len(declared) > 1:
            raise ValueError(
                f"{path}: declare one require_scope per route (it takes several scopes), "
                f"not {declared}"
            )
        if declared:
            _SCOPES_OF_ENDPOINT[endpoint] = declared[0]
        self.required_scopes = declared[0] if declared else _SCOPES_OF_ENDPOINT.get(endpoint)
        self._need = frozenset(self.required_scopes or ())
        super().__init__(
            path, endpoint, dependencies=[d for d in deps if not _declared_scopes(d)], **kwargs
        )

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        required = self.required_scopes
        # A method this route does not serve gets its 405 from FastAPI, unchecked and unspent.
        methods = self.methods or ()
        if required is not None and scope["type"] == "http" and scope["method"] in methods:
            try:
                await _check_scope_and_limit(scope, required, self._need)
            except AppError as exc:
                await app_error_response(Request(scope, receive), exc)(scope, receive, send)
                return
        await super().handle(scope, receive, send)


def route_scopes(route: object, dependencies: Sequence[object] = ()) -> list[str]:
    """The scopes a route demands, in declaration order: a ``GuardedRoute``'s own, plus any
    ``require_scope`` dependency (``dependencies``: the route's effective ones, router-level
    included)."""
    found = [s for d in dependencies for s in (_declared_scopes(d) or ())]
    own = getattr(route, "required_scopes", None) if isinstance(route, GuardedRoute) else None
    return [*own, *found] if own else found


def guarded_router(product: str) -> APIRouter:
    """An APIRouter under ``/api/v1/<product>``: every route behind it passes the guard."""
    p = catalog.product(product)  # ValueError for a product the catalogue does not have
    # A PrefixRouter refuses a path outside /api/v1/<product> at once (kit.routing).
    return PrefixRouter(prefix=p.prefix, tags=[p.title], route_class=GuardedRoute)
