"""``python -m bench`` (``make bench``): start the service, load it with wrk, print and save."""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from bench.reference import measure_references
from bench.report import document, print_tables, write_json
from bench.run import Options, measure_target, run_plan
from bench.service import Backend, pg_reachable, redis_reachable
from bench.system import machine_info
from bench.wrk import wrk_path

RESULTS = Path(__file__).with_name("results")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Loopback benchmark of Fluide Connect (and the oidc-provider peer) with wrk.",
    )
    p.add_argument("--duration", type=float, default=10.0, help="seconds per throughput run")
    p.add_argument("--latency-duration", type=float, default=None, help="seconds per 1-conn run")
    p.add_argument("--warmup", type=float, default=None, help="seconds of warm-up per route")
    p.add_argument("--connections", type=int, default=None, help="wrk connections (32)")
    p.add_argument("--threads", type=int, default=1, help="wrk threads")
    p.add_argument("--workers", default="1,2", help="worker counts, e.g. 1,2")
    p.add_argument(
        "--server",
        choices=("granian", "uvicorn"),
        default="granian",
        help="the HTTP server fluide serve runs (run the bench once per server to compare)",
    )
    p.add_argument("--backends", default="sqlite,postgres", help="sqlite and/or postgres")
    p.add_argument(
        "--pg-url",
        default=os.environ.get("FLUIDE_BENCH_DATABASE_URL")
        or os.environ.get("FLUIDE_TEST_DATABASE_URL")
        or "postgresql://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL server to create a throw-away database on",
    )
    p.add_argument(
        "--redis-url",
        default=os.environ.get("FLUIDE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
        help="Redis for the PostgreSQL runs (shared limits, revocation push); 'none' to skip",
    )
    p.add_argument(
        "--target",
        default=None,
        help="measure a server that is already running at this URL instead (reads "
        "FLUIDE_API_KEY and FLUIDE_API_SECRET; prints exchanges/s and guarded/public req/s)",
    )
    p.add_argument("--no-peer", action="store_true", help="skip the oidc-provider peer")
    p.add_argument(
        "--no-reference",
        action="store_true",
        help="skip the reference rows (raw-ASGI and FastAPI hello, and the service on SQLite, "
        "under Granian and uvicorn)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 1 s per measurement, 8 connections, short warm-up (numbers are rough)",
    )
    p.add_argument("--output", type=Path, default=None, help="JSON path (default bench/results/)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Wide enough for the table when the output is a file or a pipe (make bench | tee).
    console = Console(width=max(Console().width, 150))
    if wrk_path() is None:
        console.print("[red]wrk is not installed[/red]: apt-get update && apt-get install -y wrk")
        return 2
    if args.target:
        return _against_target(args, console)
    duration = 1.0 if args.quick else args.duration
    latency_duration = args.latency_duration or (1.0 if args.quick else max(1.0, duration / 2))
    opts = Options(
        duration=duration,
        latency_duration=latency_duration,
        warmup=args.warmup if args.warmup is not None else (0.5 if args.quick else 2.0),
        connections=args.connections or (8 if args.quick else 32),
        threads=args.threads,
        workers=tuple(int(w) for w in args.workers.split(",") if w.strip()),
        server=args.server,
        backends=tuple(b.strip() for b in args.backends.split(",") if b.strip()),
        pg_admin_url=args.pg_url,
        redis_url=None if args.redis_url.lower() == "none" else args.redis_url,
        peer=not args.no_peer,
        quick=args.quick,
        log=lambda msg: console.print(f"[dim]{msg}[/dim]"),
    )
    backends: list[Backend] = []
    skipped: list[dict[str, str]] = []
    for name in opts.backends:
        if name == "sqlite":
            backends.append(Backend("sqlite"))
        elif name == "postgres":
            why = pg_reachable(opts.pg_admin_url)
            if why:
                skipped.append({"config": "postgres", "reason": why})
                continue
            redis_url = opts.redis_url
            if redis_url and (why := redis_reachable(redis_url)):
                skipped.append({"config": "postgres+redis", "reason": why + "; ran without it"})
                redis_url = None
            backends.append(Backend("postgres", None, redis_url))
        else:
            console.print(f"[red]unknown backend {name!r}[/red] (sqlite, postgres)")
            return 2
    started = datetime.now(UTC)
    machine = machine_info()
    t0 = time.monotonic()
    plan = run_plan(opts, backends, skipped)
    reference = {} if args.no_reference else measure_references(opts)
    machine["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    doc = document(
        plan,
        {
            "started_at": started.isoformat(timespec="seconds"),
            "elapsed_s": round(time.monotonic() - t0, 1),
            "command": "python -m bench " + " ".join(sys.argv[1:] if argv is None else argv),
            "machine": machine,
            "reference": reference,
        },
    )
    out = args.output or RESULTS / f"bench-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    write_json(doc, out)
    print_tables(doc, console)
    console.print(f"JSON written to {out}")
    return 0


def _against_target(args: argparse.Namespace, console: Console) -> int:
    key, secret = os.environ.get("FLUIDE_API_KEY"), os.environ.get("FLUIDE_API_SECRET")
    if not key or not secret:
        console.print("[red]--target needs FLUIDE_API_KEY and FLUIDE_API_SECRET[/red]")
        return 2
    opts = Options(
        duration=1.0 if args.quick else args.duration,
        warmup=args.warmup if args.warmup is not None else 1.0,
        connections=args.connections or 32,
        threads=args.threads,
    )
    out = measure_target(args.target.rstrip("/"), key, secret, opts)
    x, g, u = out["exchange"], out["guarded"], out["unguarded"]
    console.print(
        f"token exchanges/s: {x['rps']:,.0f} (p50 {x['latency_ms']['p50']} ms, "
        f"p99 {x['latency_ms']['p99']} ms, non-2xx {x['errors']['status']})"
    )
    o = out["oauth_token"]
    console.print(
        f"OAuth tokens/s (POST /oauth/token): {o['rps']:,.0f} (non-2xx {o['errors']['status']}); "
        f"× exchange {out['oauth_vs_exchange']}"
    )
    console.print(
        f"guarded GET /api/v1/hr/health: {g['rps']:,.0f} req/s; public GET /api/v1: "
        f"{u['rps']:,.0f} req/s; ratio {out['guarded_ratio']}"
    )
    if args.output:
        write_json(out, args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
