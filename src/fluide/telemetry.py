"""OpenTelemetry traces: optional (``pip install 'fluide[otel]'``) and off unless configured.

With ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) set, a serving
process (``app.app_from_env``) wraps its whole pipeline in the official ASGI instrumentation
(the one FastAPI's instrumentation uses, outermost here so that the exchange's lane and the
guard's refusals get a span too) and instruments its SQLAlchemy engine, redis-py and httpx;
spans go to the OTLP/HTTP exporter, configured by the usual ``OTEL_*`` variables.

Unset, nothing here runs and no OpenTelemetry module is imported. Set without the extra, one
warning says what to install, and the service runs as without it.

What a span carries: the method, the route template (the span's name and ``http.route``, set
once the request is answered, like the metrics'), the path without its query string, the
status. No header is captured, and the query string is removed from every URL attribute (a
token or secret may sit there).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

    from fluide.app import App
    from fluide.gateway.core import Gateway

log = logging.getLogger("fluide.telemetry")
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
# URL attributes of the old and the new HTTP semantic conventions that may hold a query string.
_URL_ATTRIBUTES = ("http.target", "http.url", "url.full")
_QUERY_ATTRIBUTES = ("url.query",)


def configured(environ: Mapping[str, str] = os.environ) -> bool:
    return any(environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def install(app: App, exporter: SpanExporter | None = None) -> bool:
    """Trace ``app`` when configured (or, in tests, into ``exporter``); whether it now does."""
    if exporter is None and not configured():
        return False
    try:
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    except ImportError:
        log.warning(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed: "
            "pip install 'fluide[otel]' to export traces; running without them"
        )
        return False
    service = os.environ.get("OTEL_SERVICE_NAME", "fluide-connect")
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    app.pipeline = OpenTelemetryMiddleware(
        _RouteNames(app.pipeline, app.gateway),
        tracer_provider=provider,
        default_span_details=_span_details,
        server_request_hook=_without_query,
        exclude_spans=["receive", "send"],
    )
    _instrument_clients(app, provider)
    return True


def _instrument_clients(app: App, provider: Any) -> None:
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    # Each instrumentor patches process-wide, once: a serving process builds one app; when
    # another app installs (tests), it takes the instrumentation over.
    sqlalchemy, redis, httpx = (
        SQLAlchemyInstrumentor(),
        RedisInstrumentor(),
        HTTPXClientInstrumentor(),
    )
    for instrumentor in (sqlalchemy, redis, httpx):
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
    # Its declared range stops below SQLAlchemy 2.1, which we run (and it works with: the test).
    sqlalchemy.instrument(
        engine=app.infra.engine.sync_engine, tracer_provider=provider, skip_dep_check=True
    )
    redis.instrument(tracer_provider=provider)
    httpx.instrument(tracer_provider=provider)


def _span_details(scope: Scope) -> tuple[str, dict[str, Any]]:
    # The method only, at first: a raw path may hold ids or a mistyped credential.
    return str(scope.get("method", "HTTP")), {}


def _without_query(span: Any, scope: Scope) -> None:
    if not span.is_recording():
        return
    attributes = getattr(span, "attributes", None) or {}
    for name in _URL_ATTRIBUTES:
        value = attributes.get(name)
        if isinstance(value, str) and "?" in value:
            span.set_attribute(name, value.split("?", 1)[0])
    for name in _QUERY_ATTRIBUTES:
        if name in attributes:
            span.set_attribute(name, "")


class _RouteNames:
    """Names the request's span ``METHOD <route template>`` when its answer starts (routing, or
    the guard's refusal, has chosen the template by then; the span ends with the answer)."""

    def __init__(self, app: ASGIApp, gateway: Gateway) -> None:
        self.app = app
        self.gateway = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from opentelemetry import trace

        async def named(message: Message) -> None:
            if message["type"] == "http.response.start":
                span = trace.get_current_span()
                if span.is_recording():
                    state = scope.get("state") or {}
                    route = state.get("route_template") or self.gateway.template_of(scope)
                    span.update_name(f"{scope['method']} {route}")
                    span.set_attribute("http.route", route)
            await send(message)

        await self.app(scope, receive, named)
