"""The five product APIs. Each product package exposes ``router`` built with
``fluide.gateway.guarded_router``; ``routers()`` lists them for the app factory."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    from fluide.products import health

    return [health.router(name) for name in ("hr", "payroll", "pay", "books", "utils")]
