"""The five product APIs. Each product package exposes ``router`` built with
``fluide.gateway.guarded_router``; ``routers()`` lists them for the app factory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter

if TYPE_CHECKING:
    from fluide.kit.infra import Infrastructure


def routers() -> list[APIRouter]:
    from fluide.catalog import PRODUCT_NAMES
    from fluide.products import health
    from fluide.products.books.routes import router as books
    from fluide.products.hr.routes import router as hr
    from fluide.products.pay.routes import router as pay
    from fluide.products.payroll.routes import router as payroll
    from fluide.products.utils.routes import router as utils

    health_routers = [health.router(name) for name in PRODUCT_NAMES]
    return [*health_routers, hr, payroll, pay, books, utils]


def start_workers(infra: Infrastructure) -> None:
    """Background workers of the products, started with the app and stopped by the
    infrastructure's stop hooks: the Pay settlement worker and the purge of expired idempotency
    keys."""
    from datetime import timedelta

    from fluide.kit.idempotency import Purger
    from fluide.products.pay import settlement

    settlement.start(infra)
    purger = Purger(
        infra.sessionmaker,
        infra.clock,
        timedelta(hours=infra.settings.idempotency_retention_hours),
        infra.settings.idempotency_purge_seconds,
    )
    purger.start()
    infra.on_stop.append(purger.stop)
