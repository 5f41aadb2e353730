"""The one place that knows every part: it builds the infrastructure, identity and the gateway,
mounts the routers, and returns the service as one ASGI pipeline.

    RequestIdMiddleware → SafeRetry → LimitsMiddleware → GatewayMiddleware ─┬→ ExchangeFastPath
    (ids, last resort:     (a read on a  (input limits)   (the edge)         │  (the exchange)
     500, or 503 for an    dead DB conn.                                     └→ FastAPI
     outage: kit.faults)   runs again)                                          (the rest)

The edge (``gateway.middleware``) serves the token exchange from its own lane, without FastAPI's
and Starlette's layers (they cost about a tenth of its CPU and do nothing for it), runs the
guard's checks 1–10 on every product path before routing, refuses a secret header everywhere
else. The request-id layer counts and logs every request once it is answered
(``Gateway.observe``: metrics, the access log). FastAPI is innermost: routing, dependencies (the
request's unit of work, ``kit.uow``), checks 11–12 (``gateway.guard.GuardedRoute``), error
envelopes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.datastructures import State
from starlette.types import ASGIApp, Receive, Scope, Send

import fluide
from fluide import catalog, dashboard
from fluide.apidocs import install_api_docs
from fluide.gateway.core import Gateway
from fluide.gateway.metrics import metrics_endpoint
from fluide.gateway.middleware import GatewayMiddleware
from fluide.gateway.routes import assert_guarded
from fluide.gateway.usage_routes import router as usage_router
from fluide.identity.part import Identity
from fluide.kit import faults
from fluide.kit.clock import Clock, system_clock
from fluide.kit.errors import install_error_handlers
from fluide.kit.faults import SafeRetry
from fluide.kit.gc_tuning import tune_for_serving
from fluide.kit.infra import Infrastructure
from fluide.kit.limits import LimitsMiddleware
from fluide.kit.middleware import RequestIdMiddleware
from fluide.products import routers as product_routers
from fluide.products import start_workers
from fluide.settings import Settings


class App:
    """The service: one ASGI pipeline (module doc) and the parts it was built from.

    ``fastapi`` is the innermost app (routes, ``openapi()``); ``state`` its state, where
    dependencies find ``infra``, ``identity`` and ``gateway``. ``lifespan()`` starts and stops
    everything (the ASGI lifespan protocol runs the same, through FastAPI).
    """

    def __init__(
        self,
        pipeline: ASGIApp,
        fastapi: FastAPI,
        infra: Infrastructure,
        identity: Identity,
        gateway: Gateway,
    ) -> None:
        self.pipeline = pipeline
        self.fastapi = fastapi
        self.infra = infra
        self.identity = identity
        self.gateway = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.pipeline(scope, receive, send)

    @property
    def state(self) -> State:
        return self.fastapi.state

    def lifespan(self) -> AbstractAsyncContextManager[Any]:
        return self.fastapi.router.lifespan_context(self.fastapi)


def create_app(
    settings: Settings | None = None, clock: Clock = system_clock, *, serving: bool = False
) -> App:
    """The app. ``serving``: this process serves it (``fluide serve``) and nothing else, so the
    garbage collector is tuned for that once it has started (kit.gc_tuning)."""
    settings = settings or Settings()
    infra = Infrastructure(settings, clock)
    identity = Identity(infra)
    gateway = Gateway(infra, identity.state, identity.exposure, identity.dpop)
    identity.exchange.count = gateway.usage.count_exchange  # exchanges in the usage API

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await infra.start()
        start_workers(infra)
        if serving:
            tune_for_serving()
        try:
            yield
        finally:
            await infra.stop()

    fastapi = _fastapi(lifespan)
    fastapi.state.infra = infra
    fastapi.state.identity = identity
    fastapi.state.gateway = gateway
    _mount(fastapi, identity)
    assert_guarded(fastapi)  # after every router; again at start (routes added since)

    async def start_gateway() -> None:
        await gateway.start(fastapi)

    infra.on_start.append(start_gateway)
    infra.on_stop.append(gateway.stop)
    pipeline = RequestIdMiddleware(
        SafeRetry(  # a read that met a dead pooled connection runs once more (kit.faults)
            LimitsMiddleware(
                GatewayMiddleware(
                    fastapi, gateway, exchange=identity.lane, oauth_token=identity.oauth_token
                ),
                max_body_bytes=settings.max_body_bytes,
                max_header_bytes=settings.max_header_bytes,
                max_header_value_bytes=settings.max_header_value_bytes,
                max_json_depth=settings.max_json_depth,
                streamed=_proxied(gateway),
            )
        ),
        observe=gateway.observe,
    )
    return App(pipeline, fastapi, infra, identity, gateway)


def _proxied(gateway: Gateway) -> Callable[[Scope], bool] | None:
    """Requests the built-in proxy forwards: their bodies stream through (kit.limits)."""
    routes = gateway.routes
    if not routes.proxied:
        return None
    return lambda scope: routes.match_proxied(scope["path"]) is not None


def _fastapi(lifespan: Any) -> FastAPI:
    app = FastAPI(
        title="Fluide Connect API",
        version=fluide.__version__,
        description=f"Developer platform in front of the Fluide {catalog.titles('and')} APIs.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app, outage=faults.noted)  # an outage is a 503 (kit.faults)
    return app


def _mount(app: FastAPI, identity: Identity) -> None:
    public, exchange, developer, partners, accounts, oauth = identity.routers()
    app.include_router(public)
    # Routes match in order: the hot product routes before the developer and account routes.
    # (The token exchange is served ahead of routing from its lane; its router documents it,
    # and serves it under a root_path.)
    for router in product_routers():
        app.include_router(router)
    app.include_router(exchange)
    app.include_router(developer)
    app.include_router(partners)
    app.include_router(accounts)
    app.include_router(oauth)
    app.include_router(usage_router)
    dashboard.mount(app)
    app.add_api_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)
    install_api_docs(app)


def app_from_env() -> App:
    """Factory for ``uvicorn --factory`` (each worker process builds its own app)."""
    settings = Settings()
    from fluide.kit.logging import configure_logging

    configure_logging(settings.log_level, settings.log_json)
    application = create_app(settings, serving=True)
    from fluide import telemetry

    telemetry.install(application)  # off unless OTEL_EXPORTER_OTLP_ENDPOINT is set
    return application
