"""What each operation asks of its caller, read from what its route declares, never from its path.

A route declares its access by what it runs: a product route its scopes (``require_scope``, kept
by ``GuardedRoute``: the same reading the guard's start-up check uses, ``gateway.route_scopes``),
the developer session ``identity.deps.developer_principal``, the account session
``account_session``, the exchange its endpoint; each is marked with ``catalog.declares``. A route
that declares nothing is public.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi.routing import APIRoute

from fluide.apidocs.oauth import OAUTH_CLIENT_SCHEME
from fluide.catalog import ALL_SCOPES, Access, declared_access
from fluide.gateway.guard import route_scopes

CLIENT_ID = "fluide-developer"
API_KEY_PLACEHOLDER = "fl_dev_your_key"

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
        f"`{API_KEY_PLACEHOLDER}` with your own key.",
        "x-default": API_KEY_PLACEHOLDER,
    },
    "fluideClientId": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Fluide-Client-Id",
        "description": f"The client id: `{CLIENT_ID}` for the Connect developer client.",
        "x-default": CLIENT_ID,
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
                "tokenUrl": "/oauth/token",
                "scopes": {scope: f"The `{scope}` scope" for scope in ALL_SCOPES},
            }
        },
    },
    "oauthClient": OAUTH_CLIENT_SCHEME,
    "fluideSession": {
        "type": "http",
        "scheme": "bearer",
        "description": "A dashboard session token (`fl_sess_…`) from `POST /api/v1/auth/signin` "
        "(the dashboard sends it as the `fluide_session` cookie instead).",
    },
}

# Security requirements (OpenAPI: a list of alternatives, each an AND of schemes).
SECURITY: dict[Access, list[dict[str, list[str]]]] = {
    Access.PRODUCT: [{"bearer": [], "fluideApiKey": [], "fluideClientId": []}],
    Access.EXCHANGE: [{"fluideApiKey": [], "fluideApiSecret": [], "fluideClientId": []}],
    # The API key is optional on the developer session, but must match the token when sent.
    Access.DEVELOPER: [
        {"bearer": [], "fluideClientId": [], "fluideApiKey": []},
        {"bearer": [], "fluideClientId": []},
    ],
    Access.ACCOUNT: [{"fluideSession": []}],
    # HTTP Basic; client_secret_post (the same values in the form) is the scheme's alternative,
    # named in its description: OpenAPI has no scheme for credentials in a form body.
    Access.OAUTH_CLIENT: [{"oauthClient": []}],
    Access.PUBLIC: [],
}


def security_of(access: Access, scopes: tuple[str, ...]) -> list[dict[str, list[str]]]:
    """An operation's security requirement. A product route's is met by the exchange's token or
    by an OAuth 2.0 client-credentials token with the route's scopes (the playground fetches it
    from the key and secret); the guard's key and client-id headers go with either."""
    if access is Access.PRODUCT:
        return [
            *SECURITY[access],
            {"oauth2": list(scopes), "fluideApiKey": [], "fluideClientId": []},
        ]
    return SECURITY[access]


AUTH_NOTE = {
    Access.PRODUCT: "**Authentication:** `Authorization: Bearer <accessToken>`, "
    "`X-Fluide-Api-Key` and `X-Fluide-Client-Id: fluide-developer`. Never send the API secret "
    "here.",
    Access.EXCHANGE: "**Authentication:** `X-Fluide-Api-Key`, `X-Fluide-Api-Secret` and "
    "`X-Fluide-Client-Id: fluide-developer` (or the same values as `apiKey`, `apiSecret`, "
    "`clientId` in the JSON body; headers win).",
    Access.DEVELOPER: "**Authentication:** `Authorization: Bearer <accessToken>` and "
    "`X-Fluide-Client-Id`; `X-Fluide-Api-Key` is optional and must match the token when sent.",
    Access.ACCOUNT: "**Authentication:** a dashboard session (`Authorization: Bearer fl_sess_…` "
    "or the `fluide_session` cookie).",
    Access.OAUTH_CLIENT: "**Authentication:** OAuth 2.0 client authentication: HTTP Basic "
    "with your API key as user name and API secret as password (`client_secret_basic`), or "
    "`client_id` and `client_secret` in the form (`client_secret_post`), not both. Answers "
    "are OAuth's (RFC 6749 §5.2 errors), not the Fluide envelope.",
    Access.PUBLIC: "**Authentication:** none (public route).",
}


@dataclass(frozen=True)
class Declared:
    """A route's declared access, and for a product route every scope it demands, in order."""

    access: Access
    scopes: tuple[str, ...] = ()


def declared(route: APIRoute | None, dependencies: Sequence[Any] = ()) -> Declared:
    """What ``route`` declares; ``dependencies``: its effective ones (router-level included).

    Two different declarations on one route are a mistake in the route, refused here (the
    document would otherwise pick one)."""
    if route is None:
        return Declared(Access.PUBLIC)
    scopes = tuple(route_scopes(route, dependencies)) or _dependency_scopes(route)
    found = {a for call in _calls(route, dependencies) if (a := declared_access(call))}
    if scopes:
        found.add(Access.PRODUCT)
    if len(found) > 1:
        names = sorted(a.value for a in found)
        raise ValueError(f"{route.path}: declares more than one kind of access: {names}")
    access = found.pop() if found else Access.PUBLIC
    return Declared(access, scopes if access is Access.PRODUCT else ())


def _calls(route: APIRoute, dependencies: Sequence[Any]) -> Iterator[object]:
    """The endpoint and every dependency it runs, nested ones included."""
    yield route.endpoint
    for dep in dependencies:
        yield getattr(dep, "dependency", None)
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        yield dep.call
        stack.extend(dep.dependencies)


def _dependency_scopes(route: APIRoute) -> tuple[str, ...]:
    """Scopes declared by a ``require_scope`` used as a parameter's dependency."""
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        scopes = getattr(dep.call, "required_scopes", None)
        if isinstance(scopes, tuple) and scopes:
            return scopes
        stack.extend(dep.dependencies)
    return ()
