"""OpenTelemetry (the ``otel`` extra): inert unless configured and without the extra; with it,
spans for every request (the exchange's lane and the guard's refusals included), named by route
template, with the database's spans under them, and no credential or query string anywhere."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fluide import telemetry
from fluide.app import App
from tests.conftest import Dev, bearer, exchange


def test_configured_only_by_an_endpoint() -> None:
    assert not telemetry.configured({})
    assert not telemetry.configured({"OTEL_EXPORTER_OTLP_ENDPOINT": "  "})
    assert telemetry.configured({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert telemetry.configured({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"})


def test_unconfigured_it_imports_and_changes_nothing(tmp_path: Any) -> None:
    # A fresh process, as `fluide serve` builds its app: no instrumentation is imported and no
    # tracer provider is installed. (The SDK's own modules may be imported by a dependency:
    # redis-py's observability module imports opentelemetry.sdk when it is installed.)
    code = (
        "import json, sys\n"
        "from fluide.app import app_from_env\n"
        "app = app_from_env()\n"
        "trace = sys.modules.get('opentelemetry.trace')\n"
        "provider = type(trace.get_tracer_provider()).__name__ if trace else None\n"
        "print(json.dumps([type(app.pipeline).__name__, provider,"
        " sorted(m for m in sys.modules if m.startswith('opentelemetry.instrumentation'))]))\n"
    )
    env = {"FLUIDE_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    pipeline, provider, modules = json.loads(out.stdout.strip().splitlines()[-1])
    assert pipeline == "RequestIdMiddleware"
    assert provider in (None, "ProxyTracerProvider")  # the API's default: nothing installed
    assert modules == []


async def test_configured_without_the_extra_warns_and_serves(
    app: App, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "opentelemetry.instrumentation.asgi", None)
    pipeline = app.pipeline
    with caplog.at_level(logging.WARNING, logger="fluide.telemetry"):
        assert telemetry.install(app) is False
    assert app.pipeline is pipeline
    assert "pip install 'fluide[otel]'" in caplog.text
    assert (await client.get("/api/v1")).status_code == 200


async def test_spans_by_route_with_the_database_under_them_and_no_credential(
    app: App, client: httpx.AsyncClient, dev: Dev
) -> None:
    exporter = InMemorySpanExporter()
    assert telemetry.install(app, exporter) is True
    token = (await exchange(client, dev))["accessToken"]
    await client.get(f"/api/v1/hr/employees/emp_1?token={token}", headers=bearer(token, dev))
    await client.get("/api/v1/books/health")  # refused by the guard before routing
    spans = exporter.get_finished_spans()
    servers = [s for s in spans if s.kind.name == "SERVER"]
    names = [s.name for s in servers]
    assert names == [
        "POST /api/v1/authorize/token",
        "GET /api/v1/hr/employees/{employee_id}",
        "GET /api/v1/books/health",
    ]
    assert [s.attributes.get("http.route") for s in servers if s.attributes] == [
        "/api/v1/authorize/token",
        "/api/v1/hr/employees/{employee_id}",
        "/api/v1/books/health",
    ]
    statuses = [
        s.attributes.get("http.status_code", s.attributes.get("http.response.status_code"))
        for s in servers
        if s.attributes
    ]
    assert statuses[0] == 200 and statuses[2] == 401
    # The database's spans are children of the request's.
    server_ids = {s.context.span_id for s in servers if s.context}
    db = [s for s in spans if s.kind.name == "CLIENT" and s.parent is not None]
    assert any(s.parent is not None and s.parent.span_id in server_ids for s in db), names
    dumped = json.dumps([json.loads(s.to_json()) for s in spans])
    for value in (token, token.split(".")[1], dev.api_key, dev.api_secret, "token="):
        assert value not in dumped
    assert "authorization" not in dumped.lower()
