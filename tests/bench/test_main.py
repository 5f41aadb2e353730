"""``python -m bench --quick`` end to end: it starts the service, drives it with wrk and writes
a well-formed JSON document. No speed is asserted here; only that every number is there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.conftest import PG_URL, REDIS_URL

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
WRK_RUN = {"url", "connections", "requests", "duration_s", "errors", "latency_ms", "ok", "rps"}
LATENCY = {"min", "mean", "stdev", "max", "p50", "p90", "p99", "p999"}


def _bench_redis_url() -> str:
    if not REDIS_URL:
        return "none"
    parts = urlsplit(REDIS_URL)
    return urlunsplit((parts.scheme, parts.netloc, "/14", "", ""))


def _check_run(run: dict[str, object]) -> None:
    assert set(run) >= WRK_RUN, run.keys()
    assert set(run["latency_ms"]) == LATENCY  # type: ignore[arg-type]
    assert isinstance(run["requests"], int) and run["requests"] > 0
    # Every response was a success: the bench raised the limits and its headers are right.
    assert run["errors"] == {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0}


@pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)"
)
def test_quick_bench_writes_the_documented_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    backends = "sqlite,postgres" if PG_URL else "sqlite"
    env = dict(os.environ)
    if PG_URL:
        env["FLUIDE_BENCH_DATABASE_URL"] = PG_URL
    cmd = [sys.executable, "-m", "bench", "--quick", "--backends", backends]
    cmd += ["--redis-url", _bench_redis_url(), "--output", str(out)]
    if shutil.which("node") is None:
        cmd.append("--no-peer")
    proc = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=540, check=False
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "exchanges/s" in proc.stdout  # the table was printed

    doc = json.loads(out.read_text())
    assert {"schema", "started_at", "command", "machine", "options", "results", "skipped"} <= set(
        doc
    )
    assert {"peer", "targets"} <= set(doc)
    assert doc["options"]["quick"] is True
    configs = {(r["backend"].split("+")[0], r["workers"]) for r in doc["results"]}
    assert configs == {(b, w) for b in backends.split(",") for w in (1, 2)}, doc["skipped"]
    for r in doc["results"]:
        for name in (
            "unguarded",
            "guarded",
            "guarded_acting",
            "product_read",  # a page of the seeded employees, every call a 200
            "exchange",
            "oauth_token",
        ):
            _check_run(r[name])
            assert r[name]["extra"]["server_cpu_ms_per_request"] > 0
            assert r[name]["extra"]["client_cpu_ms_per_request"] > 0  # wrk's own CPU
        assert r["guarded_ratio_by_cpu"] > 0
        # The act-as row: every call a 200 for the partner's client company (DESIGN §3.7).
        assert r["guarded_acting_ratio"] > 0 and r["guarded_acting_ratio_by_cpu"] > 0
        for name in ("unguarded", "guarded"):
            _check_run(r["latency_one_connection"][name])
        assert set(r["latency_one_connection"]["added_ms"]) == {"p50", "p99"}
        assert r["guarded_ratio"] > 0
        # Each successful exchange left its audit row (and its issued-token row).
        assert r["exchange"]["every_success_audited"] is True
        assert r["exchange"]["audit_rows"] == r["exchange"]["issued_token_rows"]
        # /oauth/token beside it, same run, same credential: its rate, its ratio, its rows.
        assert r["oauth_token"]["every_success_audited"] is True
        assert r["oauth_token"]["audit_rows"] == r["oauth_token"]["issued_token_rows"] > 0
        ratio = r["oauth_token"]["rps"] / r["exchange"]["rps"]
        assert r["oauth_vs_exchange"] == pytest.approx(ratio, abs=0.001)
        assert r["oauth_vs_exchange_by_cpu"] > 0
        assert len(r["rss_mb"]["per_serving_process"]) == r["workers"]
        assert r["rss_mb"]["max"] > 0
        if "peer_exchange" in r:
            _check_run(r["peer_exchange"])
            assert r["exchange_vs_peer"] > 0 and r["exchange_vs_peer_by_cpu"] > 0
    if shutil.which("node") is not None:
        assert doc["peer"]["token"] == {"alg": "ES256", "typ": "at+jwt", "aud": "urn:fluide:bench"}
        assert doc["peer"]["exchange_rps_median"] > 0
    names = {t["name"] for t in doc["targets"]}
    assert "guarded/unguarded req/s" in names and "exchange rate vs oidc-provider" in names
    assert "/oauth/token vs /api/v1/authorize/token req/s" in names
    assert "guarded product read req/s (GET /api/v1/hr/employees?limit=20)" in names
    # The reference rows (issue 19): each server's raw-ASGI and FastAPI hello ceilings and the
    # service's public route, guarded route and exchange on it, in the same run.
    assert set(doc["reference"]) == {"granian", "uvicorn"}
    for rows in doc["reference"].values():
        assert set(rows) == {
            "raw_asgi_hello",
            "fastapi_hello",
            "fluide_public",
            "fluide_guarded",
            "fluide_exchange",
        }
        for run in rows.values():
            _check_run(run)
            assert run["extra"]["server_cpu_ms_per_request"] > 0
    assert "Reference: each HTTP server" in proc.stdout
    scaling = [t for t in doc["targets"] if t["name"].startswith("2 workers")]
    assert scaling and all(0 < t["ceiling"] <= 2 for t in scaling)


def test_scaling_ceiling_is_what_the_load_generator_leaves() -> None:
    from bench.report import scaling_ceiling

    def run(server: float, client: float, rps: float) -> dict[str, object]:
        extra = {"server_cpu_ms_per_request": server, "client_cpu_ms_per_request": client}
        return {"rps": rps, "extra": extra}

    # One worker bound by its core (server CPU x rate = 1 core), as on uvicorn:
    assert scaling_ceiling(run(0.3, 0.0, 3333.4)) == 2.0  # a free load generator
    assert scaling_ceiling(run(0.1, 0.025, 10_000)) == 1.6  # 2 / (0.125 ms x 10,000/s)
    assert scaling_ceiling(run(0.1, 0.1, 10_000)) == 1.0
    # Granian: one worker's I/O thread beside the Python one, 1.28 cores busy at one worker.
    assert scaling_ceiling(run(0.2, 0.02, 6400)) == 1.42  # 2 / (0.22 ms x 6,400/s)
    assert scaling_ceiling({"extra": {}}) is None
    assert scaling_ceiling({"rps": 0, "extra": run(0.2, 0.02, 1)["extra"]}) is None
