"""The app factory: one FastAPI app with every part mounted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

import fluide
from fluide import dashboard
from fluide.apidocs import install_api_docs
from fluide.gateway.core import install_gateway
from fluide.gateway.middleware import GatewayMiddleware
from fluide.identity.routes import ExchangeFastPath, auth, developer, exchange, public
from fluide.kit.clock import Clock, system_clock
from fluide.kit.errors import install_error_handlers
from fluide.kit.gc_tuning import tune_for_serving
from fluide.kit.limits import LimitsMiddleware
from fluide.kit.middleware import RequestIdMiddleware
from fluide.products import routers as product_routers
from fluide.products import start_workers
from fluide.runtime import Runtime
from fluide.settings import Settings


class FluideApp(FastAPI):
    """The FastAPI app, with the token exchange in a lane of its own.

    ``POST /api/v1/authorize/token`` goes through the same request-id, input-limit and gateway
    middlewares as everything else (ids, limits, metrics, the last-resort 500 envelope) and
    then straight to ``ExchangeFastPath``, without FastAPI's and Starlette's own layers
    (OpenTelemetry hook, server-error, exception-telemetry and body-limit middlewares, router),
    which do nothing for it and cost about a tenth of its CPU. Every other request, and the
    exchange under a ``root_path``, takes the usual way.
    """

    exchange_lane: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lane = self.exchange_lane
        if lane is not None and not self.root_path and ExchangeFastPath.serves(scope):
            scope["app"] = self
            await lane(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(
    settings: Settings | None = None, clock: Clock = system_clock, *, serving: bool = False
) -> FastAPI:
    """The app. ``serving``: this process serves it (``fluide serve``) and nothing else, so the
    garbage collector is tuned for that once it has started (kit.gc_tuning)."""
    settings = settings or Settings()
    runtime = Runtime(settings, clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        start_workers(runtime)
        if serving:
            tune_for_serving()
        try:
            yield
        finally:
            await runtime.stop()

    app = FluideApp(
        title="Fluide Connect API",
        version=fluide.__version__,
        description="Developer platform in front of the Fluide HR, Payroll, Pay, Books and "
        "Utils APIs.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = runtime
    install_error_handlers(app)
    app.include_router(public)
    # Routes match in order: the hot product routes before the developer and account routes.
    # (The token exchange is served ahead of routing by ExchangeFastPath; its router only
    # documents it, and serves it where that middleware is not installed.)
    for router in product_routers():
        app.include_router(router)
    app.include_router(exchange)
    app.include_router(developer)
    app.include_router(auth)
    dashboard.mount(app)
    gateway = install_gateway(app, runtime)  # after every router: it checks they are guarded
    install_api_docs(app)
    limits = {
        "max_body_bytes": settings.max_body_bytes,
        "max_header_bytes": settings.max_header_bytes,
        "max_header_value_bytes": settings.max_header_value_bytes,
        "max_json_depth": settings.max_json_depth,
    }
    app.add_middleware(LimitsMiddleware, **limits)
    app.add_middleware(RequestIdMiddleware)
    # The exchange's lane: the same middlewares in the same order, around ExchangeFastPath
    # (whose "anything else" never happens here: FluideApp sends it the exchange only).
    app.exchange_lane = RequestIdMiddleware(
        LimitsMiddleware(
            GatewayMiddleware(ExchangeFastPath(_not_the_exchange), gateway=gateway), **limits
        )
    )
    return app


async def _not_the_exchange(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("the exchange lane was given another request")


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (each worker process builds its own app)."""
    settings = Settings()
    from fluide.kit.logging import configure_logging

    configure_logging(settings.log_level, settings.log_json)
    return create_app(settings, serving=True)
