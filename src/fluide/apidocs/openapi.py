"""The OpenAPI 3.1 document: FastAPI's, plus security, error envelopes, examples and code samples.

Each operation's security and scopes come from what its route declares (``security.declared``),
so the routes the products add are documented the moment they are mounted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi import routing as fastapi_routing
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from fluide.apidocs import codes
from fluide.apidocs.acting import (
    ACT_AS_NOTE,
    SHOWS_ACTING,
    SHOWS_ACTING_NOTE,
    add_act_as_headers,
)
from fluide.apidocs.examples import add_request_example, add_response_examples
from fluide.apidocs.oauth import oauth_responses
from fluide.apidocs.responses import (
    ERROR_ENVELOPE,
    add_error_responses,
    declared_codes,
    fix_empty_success,
)
from fluide.apidocs.samples import code_samples
from fluide.apidocs.security import (
    AUTH_NOTE,
    SECURITY_SCHEMES,
    Declared,
    declared,
    security_of,
)
from fluide.catalog import PRODUCTS, Access, product_of, titles
from fluide.identity.schemas import TokenRequest

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

TAGS: list[dict[str, str]] = [
    {
        "name": "Authorize",
        "description": "Exchange your API key and secret for a short-lived access token; "
        "inspect, rotate and revoke it.",
    },
    *({"name": p.title, "description": f"Fluide {p.title}: {p.summary}"} for p in PRODUCTS),
    {
        "name": "Accounts",
        "description": "Developer accounts and credentials (used by the Connect dashboard).",
    },
    {"name": "Service", "description": "Service root, health and signing keys (public)."},
]


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The document served at ``/openapi.json``."""
    doc = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        description=_intro(app.description),
        routes=app.routes,
        tags=TAGS,
        servers=app.servers or None,
    )
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["ErrorEnvelope"] = ERROR_ENVELOPE
    # The exchange reads its optional body itself (identity.exchange.lane): its model is declared
    # in the operation's openapi_extra, so FastAPI does not collect it.
    schemas.setdefault(
        "TokenRequest",
        TokenRequest.model_json_schema(ref_template="#/components/schemas/{model}"),
    )
    components["securitySchemes"] = SECURITY_SCHEMES
    routes = _routes(app)
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            if method in HTTP_METHODS:
                _document(op, method, path, routes.get((method, path)), schemas)
    for unused in ("HTTPValidationError", "ValidationError"):
        if f'"#/components/schemas/{unused}"' not in json.dumps(doc["paths"]):
            schemas.pop(unused, None)
    return doc


def _intro(description: str) -> str:
    return (
        f"{description}\n\n"
        "### Start here\n"
        "1. `POST /api/v1/authorize/token` with your API key and secret (click **Authorize**, "
        "fill `fluideApiKey` and `fluideApiSecret`, then *Execute* the exchange).\n"
        "2. Copy `accessToken` from the response, click **Authorize** again and paste it into "
        "`bearer` (the raw JWT, no `Bearer ` prefix).\n"
        f"3. Call any {titles('or')} operation: it sends the token, your API "
        "key and `X-Fluide-Client-Id: fluide-developer`.\n\n"
        "Errors always use the `ErrorEnvelope` schema; branch on `code`."
    )


@dataclass(frozen=True)
class _RouteInfo:
    summary: str | None
    route: APIRoute
    declared: Declared


def _routes(app: FastAPI) -> dict[tuple[str, str], _RouteInfo]:
    """(method, path) → the route behind each operation and what it declares, through any
    router nesting (with the dependencies of the routers it is included through)."""
    out: dict[tuple[str, str], _RouteInfo] = {}
    iter_contexts = getattr(fastapi_routing, "iter_route_contexts", None)
    contexts: list[Any] = list(iter_contexts(app.routes)) if iter_contexts else list(app.routes)
    for ctx in contexts:
        route = getattr(ctx, "original_route", ctx)
        if not isinstance(route, APIRoute) or not getattr(ctx, "include_in_schema", True):
            continue
        path = getattr(ctx, "path_format", None) or route.path_format
        methods: set[str] = getattr(ctx, "methods", None) or route.methods or set()
        try:
            dependencies = tuple(getattr(ctx, "dependencies", None) or ())
        except AttributeError:
            dependencies = ()
        info = _RouteInfo(
            getattr(ctx, "summary", route.summary), route, declared(route, dependencies)
        )
        for method in methods:
            out.setdefault((method.lower(), path), info)
    return out


def _document(
    op: dict[str, Any],
    method: str,
    path: str,
    route: _RouteInfo | None,
    schemas: dict[str, Any],
) -> None:
    declaration = route.declared if route is not None else Declared(Access.PUBLIC)
    access, scopes = declaration.access, declaration.scopes
    product = product_of(path)
    if product and not op.get("tags"):
        op["tags"] = [product.title]

    _summary_from_docstring(op, route)
    notes = [AUTH_NOTE[access]]
    if scopes:
        names = " and ".join(f"`{s}`" for s in scopes)
        notes.append(f"**Scope{'s' if len(scopes) > 1 else ''}:** {names}.")
        # The OAuth scope syntax (space-separated), so a single-scope route reads as before;
        # the list form names each scope of a route that needs several (all of them).
        op["x-required-scope"] = " ".join(scopes)
        op["x-required-scopes"] = list(scopes)
    op["security"] = security_of(access, scopes)

    if access is Access.EXCHANGE:
        _add_scope_header(op)
    if access is Access.PRODUCT:
        add_act_as_headers(op)
        notes.append(ACT_AS_NOTE)
    elif (method, path) in SHOWS_ACTING:
        add_act_as_headers(op)
        notes.append(SHOWS_ACTING_NOTE)
    if access is Access.OAUTH_CLIENT:
        responses = oauth_responses(op)  # OAuth's own errors, declared by the route
    else:
        responses = _responses(op, access, method, path, scopes)
    request_example = add_request_example(op, schemas, exchange=access is Access.EXCHANGE)
    add_response_examples(responses, schemas, path)

    samples = code_samples(access, method, path, op, request_example)
    op["x-codeSamples"] = samples
    fence = {"Shell": "shell", "Python": "python", "JavaScript": "javascript"}
    blocks = [f"```{fence[s['lang']]}\n{s['source']}\n```" for s in samples]
    parts = [op.get("description", "").strip(), "\n\n".join(notes), *blocks]
    op["description"] = "\n\n".join(p for p in parts if p)


def _responses(
    op: dict[str, Any], access: Access, method: str, path: str, scopes: tuple[str, ...]
) -> dict[str, Any]:
    """The operation's responses, every error it can answer added, sorted by status."""
    responses: dict[str, Any] = op.setdefault("responses", {})
    responses.pop("422", None)
    has_input = bool(op.get("parameters") or op.get("requestBody"))
    found = codes.error_codes(access, method, path, has_input=has_input, scopes=scopes)
    declared_here = declared_codes(responses)
    if declared_here and "404" not in responses:
        # A route that declares its errors names its own 404s (or has none, like a wallet
        # created on first use): the generic NOT_FOUND is a guess for routes that declare none
        # (or that document a plain 404 themselves).
        found = [c for c in found if c != codes.NOT_FOUND]
    for code in declared_here:
        if code.code not in {c.code for c in found}:
            found.insert(-1, code)  # before INTERNAL_ERROR
    add_error_responses(responses, found)
    fix_empty_success(responses)
    op["responses"] = sorted_responses = dict(sorted(responses.items()))
    return sorted_responses


def _add_scope_header(op: dict[str, Any]) -> None:
    params: list[dict[str, Any]] = op.setdefault("parameters", [])
    if any(p.get("name", "").lower() == "x-fluide-scope" for p in params):
        return
    params.append(
        {
            "name": "X-Fluide-Scope",
            "in": "header",
            "required": False,
            "description": "Narrow the token to these space-separated scopes (a subset of the "
            "credential's). Same as `scope` in the body; the header wins.",
            # No example: Swagger UI would pre-fill it and narrow every playground token.
            "schema": {"type": "string", "maxLength": 1000},
        }
    )


def _summary_from_docstring(op: dict[str, Any], route: _RouteInfo | None) -> None:
    if route is None or route.summary:
        return
    doc = (op.get("description") or "").strip()
    if not doc:
        return
    first, _, rest = doc.partition("\n")
    op["summary"] = first.strip().rstrip(".")
    op["description"] = rest.strip()
