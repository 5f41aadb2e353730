"""The JSON document and the table a person reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.run import Plan

SCHEMA_VERSION = 1


def _target(
    name: str, config: str, target: str, measured: float | None, met: bool | None
) -> dict[str, Any]:
    return {"name": name, "config": config, "target": target, "measured": measured, "met": met}


def targets(plan: Plan) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for r in plan.results:
        cfg = f"{r['backend']} {r['workers']}w"
        ratio = r.get("guarded_ratio")
        out.append(
            _target(
                "guarded/unguarded req/s",
                cfg,
                ">= 0.9",
                ratio,
                None if ratio is None else ratio >= 0.9,
            )
        )
        added = r["latency_one_connection"]["added_ms"]["p99"]
        out.append(_target("p99 added by the guard (ms, 1 conn)", cfg, "<= 2", added, added <= 2))
        if r["workers"] == 1:
            x = r["exchange"]["rps"]
            out.append(_target("token exchanges/s, one process", cfg, ">= 1000", x, x >= 1000))
        oauth = r.get("oauth_vs_exchange")
        out.append(
            _target(
                "/oauth/token vs /api/v1/authorize/token req/s",
                cfg,
                ">= 0.9",
                oauth,
                None if oauth is None else oauth >= 0.9,
            )
        )
        vs = r.get("exchange_vs_peer")
        if vs is not None:
            out.append(_target("exchange rate vs oidc-provider", cfg, ">= 1.5", vs, vs >= 1.5))
        read = (r.get("product_read") or {}).get("rps")
        if read is not None:
            # Issue 19 wants twice its figure before the issue on the same machine: that figure
            # is not in this run (docs/performance.md has both), so no verdict here.
            out.append(
                _target(
                    "guarded product read req/s (GET /api/v1/hr/employees?limit=20)",
                    cfg,
                    ">= 2x before issue 19",
                    read,
                    None,
                )
            )
        rss = r["rss_mb"]["max"]
        out.append(
            _target(
                "RSS per process under load (MB)",
                cfg,
                "<= 150",
                rss,
                None if rss is None else rss <= 150,
            )
        )
    by_backend: dict[str, dict[int, dict[str, Any]]] = {}
    for r in plan.results:
        by_backend.setdefault(r["backend"], {})[r["workers"]] = r
    for backend, runs in by_backend.items():
        if 1 in runs and 2 in runs and runs[1]["guarded"]["rps"]:
            scale = round(runs[2]["guarded"]["rps"] / runs[1]["guarded"]["rps"], 3)
            row = _target(
                "2 workers / 1 worker, guarded reads", backend, ">= 1.7", scale, scale >= 1.7
            )
            row["ceiling"] = scaling_ceiling(runs[1]["guarded"])
            out.append(row)
    return out


def scaling_ceiling(one_worker: dict[str, Any], cores: int = 2) -> float | None:
    """The most 2 workers can give over 1 when the load generator shares the cores.

    One worker served ``r`` req/s with server CPU ``s`` and load-generator CPU ``c`` per
    request: it kept ``(s + c)·r`` cores busy. Two workers at the same cost per request can at
    best keep every core busy, ``cores/(s + c)`` req/s: at most ``cores/((s + c)·r)`` times one
    worker (and never more than 2). When one worker is bound by its one core (``s·r`` = 1, as
    on uvicorn) this is ``cores·s/(s + c)``. Granian's I/O thread runs beside the Python one,
    so one worker already uses more than a core (``s·r`` > 1) and leaves less to a second.
    """
    extra = one_worker.get("extra", {})
    s, c = extra.get("server_cpu_ms_per_request"), extra.get("client_cpu_ms_per_request")
    rps = one_worker.get("rps")
    if not s or c is None or not rps:
        return None
    busy = (s + c) * rps / 1000  # cores one worker and wrk kept busy
    ceiling: float = round(min(2.0, cores / busy), 2)
    return ceiling


def document(plan: Plan, meta: dict[str, Any]) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        **meta,
        "options": plan.options.as_dict(),
        "results": plan.results,
        "skipped": plan.skipped,
        "peer": plan.peer,
        "targets": targets(plan),
    }


def write_json(doc: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")


def _f(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def _audited(r: dict[str, Any]) -> bool:
    """Every successful exchange and OAuth token left its audit row."""
    return bool(
        r["exchange"]["every_success_audited"] and r["oauth_token"]["every_success_audited"]
    )


def print_tables(doc: dict[str, Any], console: Console) -> None:
    server = doc.get("options", {}).get("server", "uvicorn")
    table = Table(
        title=f"Fluide Connect on {server} — loopback benchmark (wrk)", title_justify="left"
    )
    for col in (
        "backend",
        "workers",
        "exchanges/s",
        "audited",
        "× peer",
        "oauth/s",
        "× exch",
        "public req/s",
        "guarded req/s",
        "ratio",
        "act-as req/s",
        "act-as ratio",
        "HR list req/s",
        "guarded p50/p99 ms",
        "p99 added ms (1 conn)",
        "RSS MB/proc",
    ):
        table.add_column(col, justify="left" if col in ("backend", "audited") else "right")
    for r in doc["results"]:
        g = r["guarded"]["latency_ms"]
        table.add_row(
            r["backend"],
            str(r["workers"]),
            _f(r["exchange"]["rps"]),
            "yes" if _audited(r) else "NO",
            _f(r.get("exchange_vs_peer"), 2),
            _f(r["oauth_token"]["rps"]),
            _f(r.get("oauth_vs_exchange"), 2),
            _f(r["unguarded"]["rps"]),
            _f(r["guarded"]["rps"]),
            _f(r["guarded_ratio"], 2),
            _f((r.get("guarded_acting") or {}).get("rps")),
            _f(r.get("guarded_acting_ratio"), 2),
            _f((r.get("product_read") or {}).get("rps")),
            f"{g['p50']:.1f} / {g['p99']:.1f}",
            _f(r["latency_one_connection"]["added_ms"]["p99"], 2),
            _f(r["rss_mb"]["max"], 0),
        )
    peer = doc.get("peer") or {}
    if "exchange_rps_median" in peer:
        table.add_row(
            f"peer: oidc-provider {peer.get('version', '')}",
            "1",
            _f(peer["exchange_rps_median"]),
            "—",
            "1.00",
            "—",
            "—",
            "—",
            "—",
            "—",
            "—",
            "—",
            "—",
            "—",
            "—",
            "—",
        )
    console.print(table)

    cpu = Table(
        title="Server CPU per request, ms (the service's own processes; robust to busy neighbours, "
        "PostgreSQL/Redis CPU not included)",
        title_justify="left",
    )
    for col in (
        "backend",
        "workers",
        "public",
        "guarded",
        "ratio by CPU",
        "act-as",
        "act-as ratio by CPU",
        "HR list",
        "exchange",
        "/oauth/token",
        "peer",
        "× peer by CPU",
    ):
        cpu.add_column(col, justify="left" if col == "backend" else "right")
    for r in doc["results"]:

        def ms(run: dict[str, Any] | None) -> str:
            value = (run or {}).get("extra", {}).get("server_cpu_ms_per_request")
            return _f(value, 2)

        cpu.add_row(
            r["backend"],
            str(r["workers"]),
            ms(r["unguarded"]),
            ms(r["guarded"]),
            _f(r.get("guarded_ratio_by_cpu"), 2),
            ms(r.get("guarded_acting")),
            _f(r.get("guarded_acting_ratio_by_cpu"), 2),
            ms(r.get("product_read")),
            ms(r["exchange"]),
            ms(r.get("oauth_token")),
            ms(r.get("peer_exchange")),
            _f(r.get("exchange_vs_peer_by_cpu"), 2),
        )
    console.print(cpu)
    if peer.get("skipped"):
        console.print(f"[yellow]peer skipped:[/yellow] {peer['skipped']}")
    for s in doc.get("skipped", []):
        console.print(f"[yellow]skipped {s['config']}:[/yellow] {s['reason']}")

    _print_reference(doc.get("reference") or {}, console)

    t = Table(title="Targets", title_justify="left")
    for col in ("target", "config", "wanted", "measured", "met"):
        t.add_column(col)
    for row in doc["targets"]:
        met = row["met"]
        mark = "[green]yes[/green]" if met else ("[red]no[/red]" if met is False else "—")
        measured = _f(row["measured"], 2)
        if row.get("ceiling") is not None:
            measured += f" (ceiling here {row['ceiling']:.2f})"
        t.add_row(row["name"], row["config"], row["target"], measured, mark)
    console.print(t)
    m = doc.get("machine", {})
    console.print(
        f"machine: {m.get('cpus')} CPUs ({m.get('cpu_model')}), load average at start "
        f"{m.get('loadavg_at_start')}, at end {m.get('loadavg_at_end')}; "
        f"{doc['options']['duration_s']:g} s per throughput run, "
        f"{doc['options']['connections']} connections"
    )


_REFERENCE_ROWS = {
    "raw_asgi_hello": "raw ASGI hello",
    "fastapi_hello": "FastAPI hello",
    "fluide_public": "Fluide public GET /api/v1/health",
    "fluide_guarded": "Fluide guarded GET /api/v1/hr/health",
    "fluide_exchange": "Fluide exchange POST /api/v1/authorize/token",
}


def _print_reference(reference: dict[str, dict[str, Any]], console: Console) -> None:
    """The servers and the framework side by side (SQLite, one worker, same run)."""
    if not reference:
        return
    table = Table(
        title="Reference: each HTTP server's ceilings and the service on it (SQLite, 1 worker)",
        title_justify="left",
    )
    for col in ("server", "row", "req/s", "server CPU ms/req", "p50 / p99 ms"):
        table.add_column(col, justify="left" if col in ("server", "row") else "right")
    for server, rows in reference.items():
        for key, label in _REFERENCE_ROWS.items():
            run = rows.get(key) or {}
            if "skipped" in run:
                table.add_row(server, label, "skipped", run["skipped"][:60], "")
                continue
            lat = run.get("latency_ms") or {}
            table.add_row(
                server,
                label,
                _f(run.get("rps")),
                _f((run.get("extra") or {}).get("server_cpu_ms_per_request"), 3),
                f"{lat.get('p50', 0):.1f} / {lat.get('p99', 0):.1f}" if lat else "—",
            )
    console.print(table)
