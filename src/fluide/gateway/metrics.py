"""Prometheus metrics for every worker together (DESIGN §3.8, issue 17).

The request path bumps prometheus-client counters and one histogram through children cached by
label values (no ``labels()`` lookup per request). With one process they live in the app's own
registry. With several (``fluide serve --workers N`` sets ``PROMETHEUS_MULTIPROC_DIR`` to an
emptied ``<data dir>/metrics`` before the workers start), prometheus-client's multiprocess mode
writes each worker's values to memory-mapped files there, and a scrape, whichever worker
answers it, sums every worker's files (a dead worker's counts stay: counters never go back).
Measured in-process (docs/performance.md): about 3 µs a request with one process, 11 µs with
the files.

Also exported: guard denials by code, exchange outcomes by status, the gateway's gauges (in
multiprocess mode summed over the live workers, refreshed at each scrape and usage flush), and
the process and platform collectors (with several workers, one process series per live worker,
labelled ``pid``).

``/metrics`` is not anonymous: it answers only with ``FLUIDE_METRICS_PUBLIC=true`` or with
``Authorization: Bearer <FLUIDE_METRICS_TOKEN>``; unconfigured it is a 404, a wrong token a 401.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fastapi import Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.registry import Collector

from fluide.kit.errors import NotFound, Unauthorized
from fluide.settings import Settings

EXCHANGE_ROUTES = frozenset({"/api/v1/authorize/token", "/api/v1/developer-access/token"})
# The method is client-chosen: anything else is "OTHER", so labels stay bounded.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Seconds; the guard answers in well under a millisecond, a payroll run in tens of ms.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
Gauges = Callable[[], dict[str, tuple[str, float]]]


def multiprocess_dir() -> Path | None:
    """The directory of multiprocess mode, when prometheus-client runs in it (decided when it
    was first imported, from ``PROMETHEUS_MULTIPROC_DIR``)."""
    if values.ValueClass is values.MutexValue:
        return None
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(path) if path else None


class MetricsUnauthorized(Unauthorized):
    code, message = "METRICS_UNAUTHORIZED", "A valid metrics token is required"


class GatewayMetrics:
    def __init__(self, gauges: Gauges | None = None) -> None:
        self.directory = multiprocess_dir()
        self.registry = CollectorRegistry(auto_describe=False)
        # Multiprocess: the values go to the files and the scrape reads them all back.
        own = None if self.directory else self.registry
        self._requests = Counter(
            "fluide_http_requests",
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            registry=own,
        )
        self._duration = Histogram(
            "fluide_http_request_duration_seconds",
            "Time from the request's arrival to its answer's last byte, by route template",
            ["method", "route"],
            buckets=BUCKETS,
            registry=own,
        )
        self._denials = Counter(
            "fluide_gateway_denials",
            "Requests refused by the guard, by code",
            ["code"],
            registry=own,
        )
        self._exchanges = Counter(
            "fluide_token_exchanges", "Token exchange requests by status", ["status"], registry=own
        )
        self._children: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}
        self._denial_children: dict[str, Any] = {}
        self._gauges = gauges
        self._gauge_metrics: dict[str, Gauge] = {}
        self._collectors(gauges)

    def _collectors(self, gauges: Gauges | None) -> None:
        if self.directory is None:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)
            if gauges is not None:
                self.registry.register(_ScrapeGauges(gauges))
            return
        multiprocess.MultiProcessCollector(self.registry, path=str(self.directory))  # type: ignore[no-untyped-call]
        PlatformCollector(registry=self.registry)
        self.registry.register(_WorkerProcesses(self.directory))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """One answered request (the hot path: a dict lookup and three increments)."""
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = self._children_for(key)
        children[0].inc()
        children[1].observe(seconds)
        if children[2] is not None:
            children[2].inc()

    def _children_for(self, key: tuple[str, str, int]) -> tuple[Any, Any, Any]:
        method, route, status = key
        label = method if method in METHODS else "OTHER"
        children = (
            self._requests.labels(label, route, str(status)),
            self._duration.labels(label, route),
            self._exchanges.labels(str(status)) if route in EXCHANGE_ROUTES else None,
        )
        if method in METHODS:  # a client-chosen method is not a cache key (bounded memory)
            self._children[key] = children
        return children

    def denial(self, code: str) -> None:
        child = self._denial_children.get(code)
        if child is None:
            child = self._denial_children[code] = self._denials.labels(code)
        child.inc()

    def refresh_gauges(self) -> None:
        """Multiprocess mode: write this worker's gauges to its file (summed over live workers)."""
        if self.directory is None or self._gauges is None:
            return
        for name, (doc, value) in self._gauges().items():
            gauge = self._gauge_metrics.get(name)
            if gauge is None:
                gauge = Gauge(name, doc, registry=None, multiprocess_mode="livesum")
                self._gauge_metrics[name] = gauge
            gauge.set(value)

    def render(self) -> bytes:
        self.refresh_gauges()
        return generate_latest(self.registry)

    def close(self) -> None:
        """This worker stops: its live gauges leave the sum (its counters stay)."""
        if self.directory is not None:
            multiprocess.mark_process_dead(os.getpid(), str(self.directory))  # type: ignore[no-untyped-call]


class _ScrapeGauges(Collector):
    def __init__(self, gauges: Gauges) -> None:
        self._gauges = gauges

    def collect(self) -> Iterator[Metric]:
        for name, (doc, value) in self._gauges().items():
            yield GaugeMetricFamily(name, doc, value=value)


class _WorkerProcesses(Collector):
    """The process collector's series for every live worker (found by the files it wrote),
    each labelled with its ``pid``: a scrape must not show only the worker that answered."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def _pids(self) -> list[int]:
        pids: set[int] = set()
        for path in self._directory.glob("*.db"):
            tail = path.stem.rsplit("_", 1)[-1]
            if tail.isdigit() and Path(f"/proc/{tail}").exists():
                pids.add(int(tail))
        return sorted(pids)

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        for pid in self._pids():
            collector = ProcessCollector(pid=_constant(pid), registry=None)
            for family in collector.collect():
                out = merged.get(family.name)
                if out is None:
                    out = merged[family.name] = Metric(
                        family.name, family.documentation, family.type
                    )
                for sample in family.samples:
                    labels = {**sample.labels, "pid": str(pid)}
                    out.add_sample(sample.name, labels, sample.value)
        yield from merged.values()


def _constant(pid: int) -> Callable[[], int]:
    return lambda: pid


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
