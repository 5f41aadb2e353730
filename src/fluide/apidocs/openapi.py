"""The OpenAPI 3.1 document: FastAPI's, plus security, error envelopes, examples and code samples.

Everything here is derived from each operation's path (see ``catalogue.classify``), so the
routes the products add are documented the moment they are mounted.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi import routing as fastapi_routing
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from fluide.apidocs import catalogue as cat
from fluide.apidocs.catalogue import ErrorCode, Kind
from fluide.apidocs.examples import example_of, node_sample
from fluide.identity.principal import ALL_SCOPES
from fluide.identity.schemas import TokenRequest
from fluide.kit.errors import AppError

_DECLARED = "x-fluide-declared-errors"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

_SCOPE_TEXT = {"read": "Read", "write": "Write"}
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "The `accessToken` returned by `POST /api/v1/authorize/token`. Paste the "
        "raw JWT: the `Bearer ` prefix is added for you.",
    },
    "fluideApiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Fluide-Api-Key",
        "description": "Your API key (`fl_dev_…`). Replace the placeholder "
        f"`{cat.API_KEY_PLACEHOLDER}` with your own key.",
        "x-default": cat.API_KEY_PLACEHOLDER,
    },
    "fluideClientId": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Fluide-Client-Id",
        "description": f"The client id: `{cat.CLIENT_ID}` for the Connect developer client.",
        "x-default": cat.CLIENT_ID,
    },
    "fluideApiSecret": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Fluide-Api-Secret",
        "description": "Your API secret, for the token exchange only. It is never sent to a "
        "product route (one that receives it answers `400 API_SECRET_NOT_ALLOWED` and flags "
        "the secret as exposed). The playground does not store it.",
        "x-sensitive": True,
    },
    "oauth2": {
        "type": "oauth2",
        "description": "OAuth 2.0 client credentials (RFC 6749 §4.4, docs/oauth.md): your API key "
        "is the client id and your API secret the client secret. The token is the same JWT as "
        "the exchange's; product calls still send `X-Fluide-Api-Key` and `X-Fluide-Client-Id`.",
        "flows": {
            "clientCredentials": {
                "tokenUrl": cat.OAUTH_TOKEN_PATH,
                "scopes": {
                    scope: _SCOPE_TEXT[scope.split(":")[1]] + " " + scope.split(":")[0]
                    for scope in ALL_SCOPES
                },
            }
        },
    },
    "oauthClient": {
        "type": "http",
        "scheme": "basic",
        "description": "OAuth client authentication (`client_secret_basic`): the API key as the "
        "user name, the API secret as the password. Or send `client_id` and `client_secret` in "
        "the form instead (`client_secret_post`), never both.",
    },
    "fluideSession": {
        "type": "http",
        "scheme": "bearer",
        "description": "A dashboard session token (`fl_sess_…`) from `POST /api/v1/auth/signin` "
        "(the dashboard sends it as the `fluide_session` cookie instead).",
    },
}

TAGS: list[dict[str, str]] = [
    {
        "name": "Authorize",
        "description": "Exchange your API key and secret for a short-lived access token; "
        "inspect, rotate and revoke it.",
    },
    {"name": "HR", "description": "Fluide HR: employees and organisation."},
    {"name": "Payroll", "description": "Fluide Payroll: pay runs and payslips."},
    {"name": "Pay", "description": "Fluide Pay: payments."},
    {"name": "Books", "description": "Fluide Books: accounting."},
    {"name": "Utils", "description": "Fluide Utils: shared reference data and helpers."},
    {
        "name": "Accounts",
        "description": "Developer accounts and credentials (used by the Connect dashboard).",
    },
    {"name": "Service", "description": "Service root, health and signing keys (public)."},
]

ERROR_ENVELOPE: dict[str, Any] = {
    "title": "ErrorEnvelope",
    "type": "object",
    "description": "Every error response (DESIGN §3.1). Branch on `code`; `message` is for people.",
    "required": ["success", "code", "message", "statusCode", "timestamp", "requestId"],
    "properties": {
        "success": {"type": "boolean", "const": False},
        "code": {"type": "string", "examples": ["TOKEN_EXPIRED"]},
        "message": {"type": "string", "examples": ["Access token has expired"]},
        "statusCode": {"type": "integer", "minimum": 400, "maximum": 599},
        "timestamp": {"type": "string", "format": "date-time"},
        "requestId": {"type": "string"},
        "errors": {
            "type": "object",
            "description": "Only for `VALIDATION_FAILED`: field → messages.",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
    "additionalProperties": False,
}

_STATUS_TEXT = {
    400: "Bad request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}
_AUTH_NOTE = {
    Kind.PRODUCT: "**Authentication:** `Authorization: Bearer <accessToken>`, "
    "`X-Fluide-Api-Key` and `X-Fluide-Client-Id: fluide-developer`. Never send the API secret "
    "here.",
    Kind.EXCHANGE: "**Authentication:** `X-Fluide-Api-Key`, `X-Fluide-Api-Secret` and "
    "`X-Fluide-Client-Id: fluide-developer` (or the same values as `apiKey`, `apiSecret`, "
    "`clientId` in the JSON body; headers win).",
    Kind.DEVELOPER: "**Authentication:** `Authorization: Bearer <accessToken>` and "
    "`X-Fluide-Client-Id`; `X-Fluide-Api-Key` is optional and must match the token when sent.",
    Kind.ACCOUNT: "**Authentication:** a dashboard session (`Authorization: Bearer fl_sess_…` "
    "or the `fluide_session` cookie).",
    Kind.OAUTH: "**Client authentication:** HTTP Basic with the API key as user name and the API "
    "secret as password (`client_secret_basic`), or `client_id` and `client_secret` in the form "
    "(`client_secret_post`). Form-encoded body; RFC 6749 §5.2 errors.",
    Kind.PUBLIC: "**Authentication:** none (public route).",
}


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
        "3. Call any HR, Payroll, Pay, Books or Utils operation: it sends the token, your API "
        "key and `X-Fluide-Client-Id: fluide-developer`.\n\n"
        "Errors always use the `ErrorEnvelope` schema; branch on `code`."
    )


@dataclass(frozen=True)
class _RouteInfo:
    summary: str | None
    route: APIRoute


def _routes(app: FastAPI) -> dict[tuple[str, str], _RouteInfo]:
    """(method, path) → the route behind each operation, through any router nesting."""
    out: dict[tuple[str, str], _RouteInfo] = {}
    iter_contexts = getattr(fastapi_routing, "iter_route_contexts", None)
    contexts: list[Any] = list(iter_contexts(app.routes)) if iter_contexts else list(app.routes)
    for ctx in contexts:
        route = getattr(ctx, "original_route", ctx)
        if not isinstance(route, APIRoute) or not getattr(ctx, "include_in_schema", True):
            continue
        path = getattr(ctx, "path_format", None) or route.path_format
        methods: set[str] = getattr(ctx, "methods", None) or route.methods or set()
        info = _RouteInfo(getattr(ctx, "summary", route.summary), route)
        for method in methods:
            out.setdefault((method.lower(), path), info)
    return out


def _required_scopes(info: _RouteInfo | None) -> tuple[str, ...]:
    """The scopes a product route demands, all of them (set by ``gateway.require_scope``)."""
    if info is None:
        return ()
    own = getattr(info.route, "required_scopes", None)  # gateway.GuardedRoute
    if isinstance(own, tuple) and own:
        return own
    stack = list(info.route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        scopes = getattr(dep.call, "required_scopes", None)
        if isinstance(scopes, tuple) and scopes:
            return scopes
        stack.extend(dep.dependencies)
    return ()


def _document(
    op: dict[str, Any],
    method: str,
    path: str,
    route: _RouteInfo | None,
    schemas: dict[str, Any],
) -> None:
    kind = cat.classify(path)
    product = cat.product_of(path)
    if product and not op.get("tags"):
        op["tags"] = [cat.PRODUCTS[product]]
    scopes = _required_scopes(route) if kind is Kind.PRODUCT else ()

    _summary_from_docstring(op, route)
    notes = [_AUTH_NOTE[kind]]
    if scopes:
        names = " and ".join(f"`{s}`" for s in scopes)
        notes.append(f"**Scope{'s' if len(scopes) > 1 else ''}:** {names}.")
        # The OAuth scope syntax (space-separated), so a single-scope route reads as before;
        # the list form names each scope of a route that needs several (all of them).
        op["x-required-scope"] = " ".join(scopes)
        op["x-required-scopes"] = list(scopes)
    op["security"] = cat.security(kind, scopes)

    if kind is Kind.EXCHANGE:
        _add_scope_header(op)
    responses: dict[str, Any] = op.setdefault("responses", {})
    responses.pop("422", None)
    has_input = bool(op.get("parameters") or op.get("requestBody"))
    codes = cat.error_codes(kind, method, path, has_input=has_input, scopes=scopes)
    declared_codes = _declared_codes(responses)
    if declared_codes and "404" not in responses:
        # A route that declares its errors names its own 404s (or has none, like a wallet
        # created on first use): the generic NOT_FOUND is a guess for routes that declare none
        # (or that document a plain 404 themselves).
        codes = [c for c in codes if c != cat.NOT_FOUND]
    for declared in declared_codes:
        if declared.code not in {c.code for c in codes}:
            codes.insert(-1, declared)  # before INTERNAL_ERROR
    _add_error_responses(responses, codes)
    _fix_empty_success(responses)
    op["responses"] = responses = dict(sorted(responses.items()))
    request_example = _add_request_example(op, schemas, path)
    _add_response_examples(responses, schemas, path)

    samples = code_samples(kind, method, path, op, request_example)
    op["x-codeSamples"] = samples
    fence = {"Shell": "shell", "Python": "python", "JavaScript": "javascript"}
    blocks = [f"```{fence[s['lang']]}\n{s['source']}\n```" for s in samples]
    parts = [op.get("description", "").strip(), "\n\n".join(notes), *blocks]
    op["description"] = "\n\n".join(p for p in parts if p)


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


def _envelope(err: ErrorCode) -> dict[str, Any]:
    body: dict[str, Any] = {
        "success": False,
        "code": err.code,
        "message": err.message,
        "statusCode": err.status,
        "timestamp": "2026-11-27T12:00:00.000Z",
        "requestId": "5f2b8c1e9a7d4f3b8e6a1c2d3e4f5a6b",
    }
    if err.code == "VALIDATION_FAILED":
        body["errors"] = {"field": ["is required"]}
    return body


def error_responses(*errors: type[AppError]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route that can raise these ``AppError``s beyond the guard's.

    ``@router.post("/employees", responses=error_responses(EmployeeExists))`` lists
    ``EMPLOYEE_EXISTS`` under 409 with the envelope schema and an example.
    """
    out: dict[int | str, dict[str, Any]] = {}
    for exc in errors:
        entry = out.setdefault(exc.status, {"description": "Error", _DECLARED: []})
        entry[_DECLARED].append({"code": exc.code, "message": exc.message})
    return out


def _declared_codes(responses: dict[str, Any]) -> list[ErrorCode]:
    found: list[ErrorCode] = []
    for status, resp in list(responses.items()):
        declared = resp.pop(_DECLARED, None) if isinstance(resp, dict) else None
        if declared:
            found += [ErrorCode(int(status), d["code"], d["message"]) for d in declared]
            del responses[status]  # rebuilt with the envelope and every code of its status
    return found


def _add_error_responses(responses: dict[str, Any], codes: list[ErrorCode]) -> None:
    by_status: dict[int, list[ErrorCode]] = {}
    for err in codes:
        by_status.setdefault(err.status, []).append(err)
    for status, errs in sorted(by_status.items()):
        key = str(status)
        declared = responses.get(key)
        if declared is not None and _has_schema(declared):
            # The route documents this status itself (e.g. a health check's 503 body).
            continue
        listing = "\n".join(f"- `{e.code}`: {e.message}" for e in errs)
        response: dict[str, Any] = {
            "description": f"{_STATUS_TEXT.get(status, 'Error')}. Codes:\n\n{listing}",
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/ErrorEnvelope"},
                    "examples": {
                        e.code: {"summary": e.message, "value": _envelope(e)} for e in errs
                    },
                }
            },
            "x-error-codes": [e.code for e in errs],
        }
        headers = _error_headers(status, errs)
        if headers:
            response["headers"] = headers
        responses[key] = response


def _has_schema(response: dict[str, Any]) -> bool:
    """FastAPI gives a declared response without a model the JSON schema ``{}``."""
    return any(m.get("schema") not in (None, {}) for m in response.get("content", {}).values())


def _error_headers(status: int, errs: list[ErrorCode]) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if status == 401:  # every 401 carries a challenge (DESIGN §3.1)
        codes = {e.code for e in errs}
        if "DEVELOPER_KEYS_INVALID" in codes:
            what = "`FluideApiKey` challenge naming the key, secret and client-id headers."
        elif "SESSION_REQUIRED" in codes or "INVALID_CREDENTIALS" in codes:
            what = '`Bearer realm="fluide-account"` (a session token), `FluidePassword` on sign-in.'
        else:
            what = '`Bearer` challenge (RFC 6750; `error="invalid_request"` or `"invalid_token"`).'
        headers["WWW-Authenticate"] = {"description": what, "schema": {"type": "string"}}
    if status == 429:
        headers["Retry-After"] = {
            "description": "Seconds to wait before retrying.",
            "schema": {"type": "string"},
        }
    return headers


def _fix_empty_success(responses: dict[str, Any]) -> None:
    """Routes that return a bare ``Response`` have no body: FastAPI still declares JSON ``{}``."""
    for status in ("202", "204"):
        resp = responses.get(status)
        if resp is None:
            continue
        content = resp.get("content")
        if content and content.get("application/json", {}).get("schema") == {}:
            resp.pop("content")
            resp["description"] = "Accepted" if status == "202" else "No content"


def _add_request_example(op: dict[str, Any], schemas: dict[str, Any], path: str) -> Any | None:
    media = op.get("requestBody", {}).get("content", {}).get("application/json")
    if media is None:
        return None
    if path == cat.EXCHANGE_PATH:
        # No scope in the example: a pasted example should not narrow the playground's token.
        example: Any = {
            "apiKey": cat.API_KEY_PLACEHOLDER,
            "apiSecret": "fl_sk_your_secret",
            "clientId": cat.CLIENT_ID,
        }
    else:
        example = example_of(media.get("schema", {}), schemas)
    if example is not None and "example" not in media and "examples" not in media:
        media["example"] = example
    return media.get("example")


def _add_response_examples(responses: dict[str, Any], schemas: dict[str, Any], path: str) -> None:
    for status, resp in responses.items():
        if not status.startswith("2"):
            continue
        media = resp.get("content", {}).get("application/json")
        if media is None or "example" in media or "examples" in media:
            continue
        schema = media.get("schema", {})
        if path.endswith("jwks.json"):
            media["example"] = {
                "keys": [
                    {
                        "kty": "EC",
                        "crv": "P-256",
                        "kid": "key_01JDV6T2M3K4N5P6Q7R8S9T0VW",
                        "alg": "ES256",
                        "use": "sig",
                        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
                    }
                ]
            }
            continue
        if schema:
            media["example"] = example_of(schema, schemas)


def code_samples(
    kind: Kind, method: str, path: str, op: dict[str, Any], body: Any | None
) -> list[dict[str, str]]:
    """curl, Python and Node.js samples for one operation (``x-codeSamples``)."""
    concrete = _concrete_path(path, op)
    headers = {
        p.get("name", "").lower() for p in op.get("parameters", []) if p.get("in") == "header"
    }
    node = node_sample(
        kind.value,
        method,
        concrete,
        body,
        answer=_answer(op),
        idempotent="idempotency-key" in headers,
    )
    return [
        {"lang": "Shell", "label": "curl", "source": _curl(kind, method, concrete, body)},
        {"lang": "Python", "label": "Python", "source": _python(kind, method, concrete, body)},
        {"lang": "JavaScript", "label": "Node.js", "source": node},
    ]


def _answer(op: dict[str, Any]) -> str:
    """What a success answers: json, binary (a file) or none (204)."""
    for status, response in op.get("responses", {}).items():
        if status.startswith("2"):
            content = response.get("content") or {}
            if not content:
                return "none"
            return "json" if any("json" in media for media in content) else "binary"
    return "json"


def _concrete_path(path: str, op: dict[str, Any]) -> str:
    out = path
    query: list[str] = []
    for param in op.get("parameters", []):
        name = param.get("name", "")
        where = param.get("in")
        if where == "path":
            out = out.replace("{" + name + "}", f"YOUR_{name.upper()}")
        elif where == "query" and param.get("required"):
            value = param.get("example", example_of(param.get("schema", {}), {}, name))
            query.append(f"{name}={value}")
    return out + ("?" + "&".join(query) if query else "")


def _curl(kind: Kind, method: str, path: str, body: Any | None) -> str:
    lines = [f'curl -sS -X {method.upper()} "$FLUIDE_BASE_URL{path}"']
    if kind is Kind.EXCHANGE:
        lines += [
            '-H "X-Fluide-Api-Key: $FLUIDE_API_KEY"',
            '-H "X-Fluide-Api-Secret: $FLUIDE_API_SECRET"',
            f'-H "X-Fluide-Client-Id: {cat.CLIENT_ID}"',
        ]
        body = None  # the headers carry the credentials; a body is optional
    elif kind in (Kind.PRODUCT, Kind.DEVELOPER):
        lines += [
            '-H "Authorization: Bearer $FLUIDE_TOKEN"',
            '-H "X-Fluide-Api-Key: $FLUIDE_API_KEY"',
            f'-H "X-Fluide-Client-Id: {cat.CLIENT_ID}"',
        ]
    elif kind is Kind.ACCOUNT:
        lines.append('-H "Authorization: Bearer $FLUIDE_SESSION"')
    elif kind is Kind.OAUTH:
        lines.append('-u "$FLUIDE_API_KEY:$FLUIDE_API_SECRET"')
        lines += [f"-d {f}" for f in _OAUTH_FORM[path]]
    if body is not None:
        lines += [
            '-H "Content-Type: application/json"',
            f"-d {shlex.quote(json.dumps(body, separators=(',', ':')))}",
        ]
    return " \\\n  ".join(lines)


_OAUTH_FORM = {
    "/oauth/token": ["grant_type=client_credentials"],
    "/oauth/introspect": ['token="$FLUIDE_TOKEN"'],
    "/oauth/revoke": ['token="$FLUIDE_TOKEN"'],
}


def _python_oauth(path: str) -> str:
    data = (
        '{"grant_type": "client_credentials"}'
        if path == cat.OAUTH_TOKEN_PATH
        else '{"token": os.environ["FLUIDE_TOKEN"]}'
    )
    return (
        "import os\n\n"
        "import httpx\n\n"
        "# Any OAuth 2.0 client works too (docs/oauth.md: Authlib, requests-oauthlib).\n"
        "resp = httpx.post(\n"
        f'    os.environ["FLUIDE_BASE_URL"] + "{path}",\n'
        f"    data={data},\n"
        '    auth=(os.environ["FLUIDE_API_KEY"], os.environ["FLUIDE_API_SECRET"]),\n'
        ")\n"
        "resp.raise_for_status()\n"
        "print(resp.json() if resp.content else resp.status_code)"
    )


def _python(kind: Kind, method: str, path: str, body: Any | None) -> str:
    if kind is Kind.OAUTH:
        return _python_oauth(path)
    json_arg = f", json={body!r}" if body is not None else ""
    if kind in (Kind.PRODUCT, Kind.DEVELOPER):
        return (
            "import os\n\n"
            "from fluide.client import FluideClient\n\n"
            "# The client exchanges the key and secret for a token, caches it and refreshes it\n"
            "# before it expires; the secret is only ever sent to the token endpoint.\n"
            "client = FluideClient(\n"
            '    base_url=os.environ["FLUIDE_BASE_URL"],\n'
            '    api_key=os.environ["FLUIDE_API_KEY"],\n'
            '    api_secret=os.environ["FLUIDE_API_SECRET"],\n'
            ")\n"
            f'result = client.request("{method.upper()}", "{path}"{json_arg})\n'
            "print(result)"
        )
    if kind is Kind.EXCHANGE:
        return (
            "import os\n\n"
            "import httpx\n\n"
            "# fluide.client.FluideClient does this for you (and refreshes before exp).\n"
            "resp = httpx.post(\n"
            f'    os.environ["FLUIDE_BASE_URL"] + "{path}",\n'
            "    headers={\n"
            '        "X-Fluide-Api-Key": os.environ["FLUIDE_API_KEY"],\n'
            '        "X-Fluide-Api-Secret": os.environ["FLUIDE_API_SECRET"],\n'
            f'        "X-Fluide-Client-Id": "{cat.CLIENT_ID}",\n'
            "    },\n"
            ")\n"
            "resp.raise_for_status()\n"
            'token = resp.json()["accessToken"]'
        )
    headers = ""
    if kind is Kind.ACCOUNT:
        headers = ',\n    headers={"Authorization": "Bearer " + os.environ["FLUIDE_SESSION"]}'
    return (
        "import os\n\n"
        "import httpx\n\n"
        "resp = httpx.request(\n"
        f'    "{method.upper()}",\n'
        f'    os.environ["FLUIDE_BASE_URL"] + "{path}"{headers}'
        + (f",\n    json={body!r}" if body is not None else "")
        + ",\n)\n"
        "resp.raise_for_status()\n"
        "print(resp.json() if resp.content else resp.status_code)"
    )
