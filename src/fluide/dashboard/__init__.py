"""The Connect web dashboard (server-rendered, under ``/connect``): account pages, API-key
pages, a partner's workspace pages, activity pages, over the identity services; HTML
plumbing in ``web``."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from fluide.dashboard import (
    account_pages,
    activity_pages,
    key_pages,
    partner_pages,
    policy_pages,
)
from fluide.dashboard.web import PREFIX, STATIC_DIR


def mount(app: FastAPI) -> None:
    """Static files first, and the activity pages last: they end with a catch-all HTML 404
    under the same prefix."""
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC_DIR), name="connect-static")
    app.include_router(account_pages.router)
    app.include_router(key_pages.router)
    app.include_router(policy_pages.router)
    app.include_router(partner_pages.router)
    app.include_router(activity_pages.router)


__all__ = ["mount"]
