"""Forward auth (DESIGN §3.9): the guard's decision for a request an external proxy holds.

``/api/v1/gateway/decide`` (any method) learns the original request in exactly one of three ways,
and refuses a call that mixes them or repeats a header (400 ``VALIDATION_FAILED``):

- nginx ``auth_request``: ``X-Original-Method`` and ``X-Original-URI``;
- Traefik ``forwardAuth``: ``X-Forwarded-Method`` and ``X-Forwarded-Uri``;
- Envoy ``ext_authz`` (``path_prefix``): the request line, ``/api/v1/gateway/decide/<path>``.

Who may call it: anyone who reaches the service, like every other route. The original method
and URI only choose which route the caller's own token is checked against; the answer grants
nothing the token does not already grant, and its ``X-Fluide-Context`` names that route (``aud``),
method and path, so it is worth nothing on another route. The proxies' recipes (deploy/) set
these headers themselves and clear the other family, so a client cannot choose them through a
proxy; an upstream must be reachable only through its proxy (docs/gateway.md).

``run_guard`` is the guard for one (route, method): checks 2–10 (``identity.authn``, with the
gateway's verified-token cache), 11 (``guard.check_scopes``) and 12 (the product limit, then the
route's own); check 1 is the middleware's, as everywhere. The built-in proxy runs the same.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from starlette.types import Scope

from fluide.gateway.core import Gateway
from fluide.gateway.guard import check_scopes
from fluide.gateway.upstreams import METHODS, NotCanonical, Route, canonical_path

__all__ = ["Route"]
from fluide.catalog import ALL_SCOPES
from fluide.identity import errors as identity_errors
from fluide.identity import jwt_core
from fluide.identity.authn import CallerHeaders, bound_caller, verified_caller
from fluide.identity.principal import Principal
from fluide.kit.errors import (
    AppError,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    ValidationFailed,
)

DECIDE_PATH = "/api/v1/gateway/decide"
DENIED_PATH = "/api/v1/gateway/denied"
CONTEXT_TYPE = "fluide-context+jwt"
_FAMILIES = {
    b"x-original-method": ("nginx", 0),
    b"x-original-uri": ("nginx", 1),
    b"x-forwarded-method": ("traefik", 0),
    b"x-forwarded-uri": ("traefik", 1),
}


class MethodNotServed(AppError):
    status, code, message = 405, "METHOD_NOT_ALLOWED", "Method not allowed on this route"


@dataclass(frozen=True, slots=True)
class Original:
    method: str
    path: str  # decoded, canonical


def _invalid(field: str, why: str) -> ValidationFailed:
    return ValidationFailed(errors={field: [why]})


def is_decide_path(path: str) -> bool:
    return path == DECIDE_PATH or path.startswith(DECIDE_PATH + "/")


def original_request(scope: Scope, path: str) -> Original:
    """The original method and canonical path, from one of the three sources (module doc)."""
    found: dict[str, list[str | None]] = {}
    for name, value in scope["headers"]:
        slot = _FAMILIES.get(name)
        if slot is None:
            continue
        family, i = slot
        values = found.setdefault(family, [None, None])
        if values[i] is not None:
            raise _invalid(name.decode(), "sent more than once")
        values[i] = value.decode("latin-1")
    if path != DECIDE_PATH:  # Envoy: the original path follows the endpoint's
        if found:
            raise _invalid("headers", "the original request is in the path: no X-Original-*")
        raw = scope.get("raw_path") or path.encode()
        raw_path = raw.decode("latin-1")[len(DECIDE_PATH) :]
        return Original(checked_method(scope["method"]), checked_path(raw_path))
    if len(found) != 1:
        raise _invalid("headers", "send X-Original-Method/-URI or X-Forwarded-Method/-Uri")
    method, uri = next(iter(found.values()))
    if method is None or uri is None:
        raise _invalid("headers", "the original method and URI go together")
    return Original(checked_method(method), checked_path(uri.split("?", 1)[0]))


def checked_method(value: str) -> str:
    if value not in METHODS:
        raise _invalid("method", "not an HTTP method this gateway routes")
    return value


def checked_path(raw: str) -> str:
    try:
        return canonical_path(raw)
    except NotCanonical as exc:
        raise _invalid("uri", str(exc)) from exc


def find_route(gw: Gateway, original: Original) -> Route:
    route = gw.routes.match(original.path)
    if route is None:  # fail closed: what the table does not name is not allowed
        raise NotFound("No route for this path")
    return route


async def run_guard(
    gw: Gateway,
    h: CallerHeaders,
    route: Route,
    method: str,
    now: float,
    seen: list[Principal],
    peer: str | None = None,
) -> Principal:
    """Checks 2–12 for ``method`` on ``route``, the credential's policy included (``peer``: the
    socket's address, the client's worked out from it by the trusted-proxy rule); the principal
    (also appended to ``seen`` once the token verified, so a later denial counts under its
    credential)."""
    principal = verified_caller(h, gw.identity, now, cache=gw.cache)
    seen.append(principal)
    principal = bound_caller(principal, h, gw.identity, now, peer)
    scope = route.scope_for(method)
    if scope is None:
        raise MethodNotServed
    check_scopes(principal, (scope,), frozenset((scope,)))
    decision = await gw.limiter_for(principal.credential_id).hit(principal.api_key)
    if decision.allowed:
        route_limiter = gw.route_limiters.get(route.index)
        if route_limiter is not None:
            decision = await route_limiter.hit(principal.api_key)
    if not decision.allowed:
        raise RateLimited(decision.retry_after, headers=decision.headers())
    return principal


def context_token(
    gw: Gateway, principal: Principal, route: Route, original: Original, rid: str, now: int
) -> str:
    """``X-Fluide-Context``: who calls, for this route, method and path only; short-lived."""
    state = gw.identity
    key = state.keyset.signing_key_at(now)
    if key is None:
        raise ServiceUnavailable("No signing key is loaded")
    claims: dict[str, Any] = {
        "iss": state.issuer,
        "sub": principal.credential_id,
        "aud": route.audience,
        "iat": now,
        "nbf": now,
        "exp": now + gw.settings.context_ttl_seconds,
        "jti": os.urandom(12).hex(),
        "tenant_id": principal.tenant_id,
        "credential_id": principal.credential_id,
        "scope": " ".join(sorted(principal.scopes)),
        "method": original.method,
        "path": original.path,
        "request_id": rid,
    }
    return jwt_core.mint(claims, key, typ=CONTEXT_TYPE)


def identity_headers(principal: Principal, context: str) -> list[tuple[bytes, bytes]]:
    out = [
        (b"x-fluide-tenant-id", principal.tenant_id.encode()),
        (b"x-fluide-credential-id", principal.credential_id.encode()),
        (b"x-fluide-scopes", " ".join(sorted(principal.scopes)).encode()),
        (b"x-fluide-context", context.encode()),
    ]
    if principal.company_id is not None and principal.workspace_id is not None:
        # A partner acting for a client company (checked by the guard, docs/partners.md).
        out.append((b"x-fluide-workspace-id", principal.workspace_id.encode()))
        out.append((b"x-fluide-company-id", principal.company_id.encode()))
    return out


# ---- the denial page for nginx (auth_request passes 401/403 only; others become 500) -------

# X-Fluide-Error-Variant's one value (``error_headers``): the only one the denial page knows.
DPOP_VARIANT = "dpop"
_DENIALS: dict[str, type[AppError]] = {
    cls.code: cls
    for cls in (
        identity_errors.ApiSecretNotAllowed,
        identity_errors.AuthorizationMissing,
        identity_errors.AuthorizationMalformed,
        identity_errors.MissingApiKey,
        identity_errors.MissingClientId,
        identity_errors.TokenInvalidError,
        identity_errors.TokenExpiredError,
        identity_errors.TokenRevoked,
        identity_errors.ClientAudienceMismatch,
        identity_errors.ApiKeyMismatch,
        identity_errors.CredentialRevoked,
        MethodNotServed,
        NotFound,
        ValidationFailed,
    )
}


def denial_from_headers(
    code: str | None, scope: str | None, retry_after: str | None, variant: str | None = None
) -> AppError:
    """The error a decision answered, from what nginx kept of it (``X-Fluide-Error-*``), with
    its class's message and challenge. Anything unknown is a 500: the page never says more
    than the decision did."""
    if code == identity_errors.DpopSchemeMismatch.code and variant == DPOP_VARIANT:
        # A DPoP-bound token: TOKEN_INVALID with the DPoP challenge, not the Bearer one.
        return identity_errors.DpopSchemeMismatch(identity_errors.NO_DPOP_HERE)
    if code == identity_errors.InsufficientScope.code and scope in ALL_SCOPES:
        assert scope is not None
        return identity_errors.InsufficientScope(scope)
    if code == RateLimited.code:
        seconds = int(retry_after) if retry_after and retry_after.isdigit() else 1
        return RateLimited(min(seconds, 86400))
    cls = _DENIALS.get(code or "")
    if cls is None:
        return AppError(status=500, code="INTERNAL_ERROR", message="Internal server error")
    return cls()


def error_headers(exc: AppError) -> list[tuple[bytes, bytes]]:
    """What a decision's denial adds for nginx's denial page to render it again: the code, the
    scope of an INSUFFICIENT_SCOPE, and ``dpop`` for the TOKEN_INVALID of a DPoP-bound token
    (another message and challenge than a Bearer token's)."""
    out = [(b"x-fluide-error-code", exc.code.encode())]
    scope = getattr(exc, "scope", None)
    if isinstance(scope, str):
        out.append((b"x-fluide-error-scope", scope.encode()))
    if isinstance(exc, identity_errors.DpopSchemeMismatch):
        out.append((b"x-fluide-error-variant", DPOP_VARIANT.encode()))
    return out
