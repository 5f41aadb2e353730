"""Prometheus metrics, one registry per app. The request path only bumps dict counters;
the collector turns them into metric families when ``/metrics`` is scraped.

``/metrics`` is not anonymous: it answers only with ``FLUIDE_METRICS_PUBLIC=true`` or with
``Authorization: Bearer <FLUIDE_METRICS_TOKEN>``; unconfigured it is a 404, a wrong token a 401.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator

from fastapi import Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from fluide.kit.errors import NotFound, Unauthorized
from fluide.settings import Settings

EXCHANGE_ROUTES = frozenset({"/api/v1/authorize/token", "/api/v1/developer-access/token"})
# The method is client-chosen: anything else is "OTHER", so labels stay bounded.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class MetricsUnauthorized(Unauthorized):
    code, message = "METRICS_UNAUTHORIZED", "A valid metrics token is required"


class GatewayMetrics:
    def __init__(self, gauges: Callable[[], dict[str, tuple[str, float]]] | None = None) -> None:
        self.requests: dict[tuple[str, str, int], int] = {}  # (method, route, status) → n
        self.denials: dict[str, int] = {}  # code → n
        self.exchanges: dict[int, int] = {}  # status → n
        self._gauges = gauges
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def request(self, method: str, route: str, status: int) -> None:
        key = (method if method in METHODS else "OTHER", route, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        if route in EXCHANGE_ROUTES:
            self.exchanges[status] = self.exchanges.get(status, 0) + 1

    def denial(self, code: str) -> None:
        self.denials[code] = self.denials.get(code, 0) + 1

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "fluide_http_requests",
            "HTTP requests by method, route template and status",
            labels=["method", "route", "status"],
        )
        for (method, route, status), n in list(self.requests.items()):
            requests.add_metric([method, route, str(status)], n)
        yield requests
        denials = CounterMetricFamily(
            "fluide_gateway_denials",
            "Product requests refused by the guard, by code",
            labels=["code"],
        )
        for code, n in list(self.denials.items()):
            denials.add_metric([code], n)
        yield denials
        exchanges = CounterMetricFamily(
            "fluide_token_exchanges", "Token exchange requests by status", labels=["status"]
        )
        for status, n in list(self.exchanges.items()):
            exchanges.add_metric([str(status)], n)
        yield exchanges
        if self._gauges is not None:
            for name, (doc, value) in self._gauges().items():
                yield GaugeMetricFamily(name, doc, value=value)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def authorize_scrape(settings: Settings, authorization: str | None) -> None:
    if settings.metrics_public:
        return
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
    if not token.strip():
        # Fail closed: a blank token is no token (else "Bearer " would be the password).
        raise NotFound
    expected = ("Bearer " + token).encode()
    if not hmac.compare_digest((authorization or "").encode(), expected):
        raise MetricsUnauthorized(headers={"WWW-Authenticate": "Bearer"})


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus metrics (token-protected unless FLUIDE_METRICS_PUBLIC=true)."""
    gateway = request.app.state.gateway
    authorize_scrape(gateway.settings, request.headers.get("authorization"))
    return Response(gateway.metrics.render(), media_type=CONTENT_TYPE_LATEST)
