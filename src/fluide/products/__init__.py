"""The five product APIs. Each product package exposes ``router`` built with
``fluide.gateway.guarded_router``; ``routers()`` lists them for the app factory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter

if TYPE_CHECKING:
    from fluide.runtime import Runtime


def routers() -> list[APIRouter]:
    from fluide.products import health
    from fluide.products.books.routes import router as books
    from fluide.products.hr.routes import router as hr
    from fluide.products.pay.routes import router as pay
    from fluide.products.payroll.routes import router as payroll
    from fluide.products.utils.routes import router as utils

    health_routers = [health.router(name) for name in ("hr", "payroll", "pay", "books", "utils")]
    return [*health_routers, hr, payroll, pay, books, utils]


def start_workers(runtime: Runtime) -> None:
    """Background workers of the products (the Pay settlement worker), started with the app."""
    from fluide.products.pay import settlement

    settlement.start(runtime)
