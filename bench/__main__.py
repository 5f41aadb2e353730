"""``python -m bench`` (``make bench``): start the service, load it with wrk, print and save."""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from bench.report import document, print_tables, write_json
from bench.run import Options, run_plan
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
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per route")
    p.add_argument("--connections", type=int, default=32, help="wrk connections")
    p.add_argument("--threads", type=int, default=1, help="wrk threads")
    p.add_argument("--workers", default="1,2", help="worker counts, e.g. 1,2")
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
    p.add_argument("--no-peer", action="store_true", help="skip the oidc-provider peer")
    p.add_argument("--quick", action="store_true", help="smoke run: 1 s per measurement")
    p.add_argument("--output", type=Path, default=None, help="JSON path (default bench/results/)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Wide enough for the table when the output is a file or a pipe (make bench | tee).
    console = Console(width=max(Console().width, 150))
    if wrk_path() is None:
        console.print("[red]wrk is not installed[/red]: apt-get update && apt-get install -y wrk")
        return 2
    duration = 1.0 if args.quick else args.duration
    latency_duration = args.latency_duration or (1.0 if args.quick else max(1.0, duration / 2))
    opts = Options(
        duration=duration,
        latency_duration=latency_duration,
        warmup=0.0 if args.quick else args.warmup,
        connections=args.connections,
        threads=args.threads,
        workers=tuple(int(w) for w in args.workers.split(",") if w.strip()),
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
    machine["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    doc = document(
        plan,
        {
            "started_at": started.isoformat(timespec="seconds"),
            "elapsed_s": round(time.monotonic() - t0, 1),
            "command": "python -m bench " + " ".join(sys.argv[1:] if argv is None else argv),
            "machine": machine,
        },
    )
    out = args.output or RESULTS / f"bench-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    write_json(doc, out)
    print_tables(doc, console)
    console.print(f"JSON written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
