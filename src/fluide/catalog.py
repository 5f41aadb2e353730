"""What the API offers, written once: the products (name, title, prefix, scopes), every scope,
and the kinds of access a route declares.

Everything else reads it: scope validation and the dashboard's key form (``ALL_SCOPES``), the
gateway (prefixes, ``guarded_router``), the products (their health checks), the API reference
(tags, security, examples). It imports nothing of the project, so every package may import it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

API_PREFIX = "/api/v1"


@dataclass(frozen=True)
class Product:
    name: str  # the path segment and the scopes' prefix
    title: str  # the API reference's tag
    summary: str  # the tag's description, after "Fluide <title>: "
    scopes: tuple[str, ...]  # the product's own, read first

    @property
    def prefix(self) -> str:
        return f"{API_PREFIX}/{self.name}"

    @property
    def read_scope(self) -> str:
        return f"{self.name}:read"


PRODUCTS: tuple[Product, ...] = (
    Product("hr", "HR", "employees and organisation.", ("hr:read", "hr:write")),
    Product("payroll", "Payroll", "pay runs and payslips.", ("payroll:read", "payroll:write")),
    Product("pay", "Pay", "payments.", ("pay:read", "pay:write")),
    Product("books", "Books", "accounting.", ("books:read", "books:write")),
    Product("utils", "Utils", "shared reference data and helpers.", ("utils:read",)),
)
BY_NAME: dict[str, Product] = {p.name: p for p in PRODUCTS}
PRODUCT_NAMES: tuple[str, ...] = tuple(BY_NAME)
PRODUCT_PREFIXES: tuple[str, ...] = tuple(p.prefix for p in PRODUCTS)
# Every scope a credential may hold, in this order (a credential's scopes are stored sorted so).
ALL_SCOPES: tuple[str, ...] = tuple(s for p in PRODUCTS for s in p.scopes)
# Two scopes for examples in the API reference.
EXAMPLE_SCOPES: tuple[str, ...] = (PRODUCTS[0].read_scope, PRODUCTS[1].read_scope)


def product(name: str) -> Product:
    """The product called ``name``; ``ValueError`` for any other name."""
    found = BY_NAME.get(name)
    if found is None:
        raise ValueError(f"unknown product {name!r}")
    return found


def product_of(path: str) -> Product | None:
    """The product whose prefix holds ``path`` as a whole segment (``/api/v1/pay/x`` is Pay,
    ``/api/v1/payroll`` is Payroll, ``/api/v1/hrx`` is none)."""
    for p in PRODUCTS:
        if path == p.prefix or path.startswith(p.prefix + "/"):
            return p
    return None


def titles(last: str) -> str:
    """The products' titles as prose: ``titles("and")`` is "HR, Payroll, Pay, Books and Utils"."""
    names = [p.title for p in PRODUCTS]
    return f"{', '.join(names[:-1])} {last} {names[-1]}"


class Access(Enum):
    """What a route asks of its caller, as the route declares it (DESIGN §3.2–3.5)."""

    PRODUCT = "product"  # a token, its API key and client id, and the route's scopes
    EXCHANGE = "exchange"  # the API key and secret (the token exchange only)
    # OAuth client authentication (RFC 6749 §2.3.1): the API key and secret as the client id and
    # secret, HTTP Basic or in the form (/oauth/token, /oauth/introspect, /oauth/revoke)
    OAUTH_CLIENT = "oauth-client"
    DEVELOPER = "developer"  # a token and client id (the API key optional)
    ACCOUNT = "account"  # a dashboard account session
    PUBLIC = "public"  # nothing


_ACCESS_ATTR = "fluide_access"
F = TypeVar("F", bound=Callable[..., Any])


def declares(access: Access) -> Callable[[F], F]:
    """Mark a dependency (or an endpoint) as the check of ``access``: a route that uses it is
    documented with that security. ``gateway.require_scope`` marks its own."""

    def mark(fn: F) -> F:
        setattr(fn, _ACCESS_ATTR, access)
        return fn

    return mark


def declared_access(fn: object) -> Access | None:
    access = getattr(fn, _ACCESS_ATTR, None)
    return access if isinstance(access, Access) else None
