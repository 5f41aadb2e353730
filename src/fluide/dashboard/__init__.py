"""The Connect web dashboard (server-rendered, under ``/connect``)."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from fluide.dashboard.routes import router
from fluide.dashboard.web import PREFIX, STATIC_DIR


def mount(app: FastAPI) -> None:
    """Static files first: the router ends with a catch-all HTML 404 under the same prefix."""
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC_DIR), name="connect-static")
    app.include_router(router)


__all__ = ["mount", "router"]
