"""The kind of access each documented path needs, by path: the tests' own oracle, written apart
from the code, which reads it from each route's declaration (``fluide.apidocs.security``)."""

from __future__ import annotations

import re

from fluide.catalog import PRODUCT_NAMES, Access

Kind = Access
_PRODUCT = re.compile(r"^/api/v1/(" + "|".join(PRODUCT_NAMES) + r")(/|$)")
_DEVELOPER = re.compile(
    r"^/api/v1/(authorize/(current|rotate-secret|revoke)|auth-context/\{[^/]+\}"
    r"|workspaces(/\{[^/]+\}(/companies(/\{[^/]+\})?)?)?)$"
)
_ACCOUNT_PUBLIC = {
    "/api/v1/auth/signup",
    "/api/v1/auth/verify",
    "/api/v1/auth/verify/resend",
    "/api/v1/auth/signin",
    "/api/v1/auth/.well-known/jwks.json",
}


_OAUTH_CLIENT = {"/oauth/token", "/oauth/introspect", "/oauth/revoke"}


def classify(path: str) -> Access:
    if path in _OAUTH_CLIENT:
        return Access.OAUTH_CLIENT
    if _PRODUCT.match(path):
        return Access.PRODUCT
    if path == "/api/v1/authorize/token":
        return Access.EXCHANGE
    if _DEVELOPER.match(path):
        return Access.DEVELOPER
    if path.startswith("/api/v1/auth/") and path not in _ACCOUNT_PUBLIC:
        return Access.ACCOUNT
    return Access.PUBLIC
