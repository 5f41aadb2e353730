"""Routers that can say "not mine" without trying each of their routes.

FastAPI tries the routes of every included router in order, with some bookkeeping per route; a
request for a product route otherwise walks every public route first. These routers answer
``Match.NONE`` from one look at the path when it cannot be theirs, and let FastAPI match as
usual when it may be. With a ``root_path`` (an app mounted under a prefix) they always defer.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import Scope


class PrefixRouter(APIRouter):
    """Every route lives under ``prefix``: a path outside it is not this router's."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path: str = scope["path"]
        prefix = self.prefix
        if not scope.get("root_path") and (
            not path.startswith(prefix) or (len(path) > len(prefix) and path[len(prefix)] != "/")
        ):
            return Match.NONE, {}
        return super().matches(scope)


class StaticRouter(APIRouter):
    """Only fixed paths (no path parameters): a path not among them is not this router's."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if not scope.get("root_path") and scope["path"] not in self._static_paths():
            return Match.NONE, {}
        return super().matches(scope)

    def _static_paths(self) -> frozenset[str]:
        cached: tuple[int, frozenset[str]] | None = getattr(self, "_fluide_paths", None)
        if cached is not None and cached[0] == len(self.routes):
            return cached[1]
        paths = frozenset(r.path for r in self.routes if isinstance(r, APIRoute))
        if any("{" in p for p in paths):
            raise ValueError("StaticRouter routes must not have path parameters")
        self._fluide_paths = (len(self.routes), paths)
        return paths
