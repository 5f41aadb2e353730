"""The route table (DESIGN §3.9): prefix → upstream, the scope each method needs, limits.

The built-in products are routes with the upstream ``embedded``; a team adds its own services
in a TOML file (``FLUIDE_ROUTES_FILE``)::

    [[route]]
    prefix = "/orders"                       # canonical: /segment[/segment…], no trailing /
    upstream = "http://127.0.0.1:9000"       # http(s) URL (the built-in proxy forwards there)
    scopes = { GET = "books:read", HEAD = "books:read", "*" = "books:write" }
    limit = "600/minute"                     # optional, per API key, on top of the product one
    audience = "orders"                      # optional: X-Fluide-Context ``aud`` (default: prefix)

The file is read once when the app is built; any problem stops the start with a message that
names the route and what is wrong (``RoutesFileError``): unknown scope, a method without a
scope, overlapping prefixes (nested ones included: one path, one route), a prefix under one of
the service's own paths, a bad URL.

Matching works on canonical paths only (``canonical_path``): a path with ``.``/``..`` segments
(plain or percent-encoded), empty segments, encoded slashes or backslashes, a ``%`` that decodes
to ``%`` (double encoding) or control characters is refused, never normalised, so no spelling of a
path can pick another route than the one a proxy routed it to.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from fluide.catalog import ALL_SCOPES, PRODUCTS
from fluide.kit.ratelimit import parse_limit

EMBEDDED = "embedded"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
ANY_METHOD = "*"
# The service's own paths: a route may neither sit under them nor contain them.
RESERVED_PREFIXES = (
    "/api",
    "/connect",
    "/oauth",
    "/.well-known",
    "/docs",
    "/metrics",
    "/livez",
    "/readyz",
    "/openapi.json",
)
_ROUTE_KEYS = frozenset({"prefix", "upstream", "scopes", "limit", "audience"})


class RoutesFileError(ValueError):
    """The routes file cannot be used; the message says which route and why."""


class NotCanonical(ValueError):
    """A path that could be read two ways."""


@dataclass(frozen=True)
class Route:
    prefix: str
    upstream: str  # EMBEDDED or an http(s) URL without a trailing slash
    scopes: Mapping[str, str]  # method (or "*") → scope
    limit: str | None = None
    audience: str = ""
    index: int = field(default=0, compare=False)

    @property
    def embedded(self) -> bool:
        return self.upstream == EMBEDDED

    def scope_for(self, method: str) -> str | None:
        """The scope ``method`` needs; ``None``: the route does not serve the method."""
        return self.scopes.get(method.upper(), self.scopes.get(ANY_METHOD))

    def covers(self, path: str) -> bool:
        return path == self.prefix or path.startswith(self.prefix + "/")


def embedded_routes() -> list[Route]:
    routes = []
    for product in PRODUCTS:
        prefix, read = product.prefix, product.read_scope
        # Reads need the read scope; anything else the write scope (read-only products: read).
        write = next((s for s in product.scopes if s != read), read)
        scopes = {"GET": read, "HEAD": read, ANY_METHOD: write}
        routes.append(Route(prefix, EMBEDDED, scopes, audience=prefix))
    return routes


class RouteTable:
    """The built-in routes and the file's; ``match`` takes a canonical path."""

    def __init__(self, routes: list[Route]) -> None:
        self.routes = [
            Route(r.prefix, r.upstream, r.scopes, r.limit, r.audience, i)
            for i, r in enumerate(routes)
        ]
        # Longest prefix first; prefixes never nest (checked on load), so at most one matches.
        self._ordered = sorted(self.routes, key=lambda r: len(r.prefix), reverse=True)
        self.proxied = [r for r in self._ordered if not r.embedded]

    def match(self, path: str) -> Route | None:
        for route in self._ordered:
            if route.covers(path):
                return route
        return None

    def match_proxied(self, path: str) -> Route | None:
        for route in self.proxied:
            if route.covers(path):
                return route
        return None


def canonical_path(raw: str) -> str:
    """The decoded path of a raw (percent-encoded) path, or ``NotCanonical``."""
    if not raw.startswith("/") or len(raw) > 4096:
        raise NotCanonical("the path must start with / and be short")
    if any(not 0x21 <= ord(c) <= 0x7E for c in raw) or "\\" in raw or "#" in raw:
        raise NotCanonical("the path has characters a URL path does not carry")
    try:
        decoded = unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotCanonical("the path is not UTF-8") from exc
    if _bad_escape(raw):
        raise NotCanonical("the path has a malformed percent escape")
    if any(c in decoded for c in ("\\", "%", "#", "?")) or any(ord(c) < 0x20 for c in decoded):
        raise NotCanonical("the path encodes a character that changes its meaning")
    if raw.count("/") != decoded.count("/"):
        raise NotCanonical("the path encodes a slash")
    segments = decoded.split("/")[1:]
    for i, segment in enumerate(segments):
        if segment.split(";", 1)[0] in (".", ".."):
            raise NotCanonical("the path has a dot segment")
        if segment == "" and i != len(segments) - 1:
            raise NotCanonical("the path has an empty segment")
    return decoded


def _bad_escape(raw: str) -> bool:
    parts = raw.split("%")[1:]
    return any(len(p) < 2 or not all(c in "0123456789abcdefABCDEF" for c in p[:2]) for p in parts)


def load_routes(path: Path | None) -> RouteTable:
    """The table: the embedded routes, then the file's (validated; ``RoutesFileError``)."""
    routes = embedded_routes()
    if path is None:
        return RouteTable(routes)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RoutesFileError(f"{path}: cannot be read ({type(exc).__name__})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise RoutesFileError(f"{path}: not valid TOML ({exc})") from exc
    extra = set(data) - {"route"}
    if extra:
        raise RoutesFileError(f"{path}: unknown top-level keys {sorted(extra)}")
    entries = data.get("route", [])
    if not isinstance(entries, list):
        raise RoutesFileError(f"{path}: 'route' must be an array of tables ([[route]])")
    for n, entry in enumerate(entries, 1):
        where = f"{path}: route #{n}"
        if not isinstance(entry, dict):
            raise RoutesFileError(f"{where}: must be a table")
        route = _route(entry, where)
        _check_overlap(route, routes, where)
        routes.append(route)
    return RouteTable(routes)


def _route(entry: dict[str, Any], where: str) -> Route:
    unknown = set(entry) - _ROUTE_KEYS
    if unknown:
        raise RoutesFileError(f"{where}: unknown keys {sorted(unknown)}")
    prefix = entry.get("prefix")
    if not isinstance(prefix, str):
        raise RoutesFileError(f"{where}: 'prefix' is required (a string)")
    where = f"{where} ({prefix})"
    try:
        canonical = canonical_path(prefix)
    except NotCanonical as exc:
        raise RoutesFileError(f"{where}: bad prefix: {exc}") from exc
    if canonical != prefix or prefix == "/" or prefix.endswith("/"):
        raise RoutesFileError(f"{where}: bad prefix: write it decoded, without a trailing /")
    for reserved in RESERVED_PREFIXES:
        if _nested(prefix, reserved):
            raise RoutesFileError(f"{where}: overlaps the service's own path {reserved}")
    upstream = _upstream(entry.get("upstream"), where)
    scopes = _scopes(entry.get("scopes"), where)
    limit = entry.get("limit")
    if limit is not None:
        try:
            if not isinstance(limit, str):
                raise ValueError("not a string")
            parse_limit(limit)
        except ValueError as exc:
            raise RoutesFileError(f"{where}: bad limit {limit!r} (e.g. '600/minute')") from exc
    audience = entry.get("audience", prefix)
    if not isinstance(audience, str) or not audience:
        raise RoutesFileError(f"{where}: 'audience' must be a non-empty string")
    return Route(prefix, upstream, scopes, limit, audience)


def _upstream(value: object, where: str) -> str:
    if value == EMBEDDED:
        raise RoutesFileError(f"{where}: 'embedded' is the built-in products' upstream only")
    if not isinstance(value, str):
        raise RoutesFileError(f"{where}: 'upstream' is required (an http or https URL)")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError as exc:
        raise RoutesFileError(f"{where}: bad upstream URL") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RoutesFileError(f"{where}: bad upstream URL: needs http:// or https:// and a host")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise RoutesFileError(f"{where}: bad upstream URL: no query, fragment or credentials in it")
    return value.rstrip("/")


def _scopes(value: object, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not value:
        raise RoutesFileError(f"{where}: 'scopes' is required: method (or \"*\") = scope")
    scopes: dict[str, str] = {}
    for method, scope in value.items():
        name = method.upper()
        if name != ANY_METHOD and name not in METHODS:
            raise RoutesFileError(f"{where}: unknown method {method!r}")
        if not isinstance(scope, str) or scope not in ALL_SCOPES:
            raise RoutesFileError(
                f"{where}: unknown scope {scope!r} for {method} (known: {' '.join(ALL_SCOPES)})"
            )
        scopes[name] = scope
    return scopes


def _nested(a: str, b: str) -> bool:
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def _check_overlap(route: Route, routes: list[Route], where: str) -> None:
    for other in routes:
        if _nested(route.prefix, other.prefix):
            raise RoutesFileError(f"{where}: overlaps the route {other.prefix}")
