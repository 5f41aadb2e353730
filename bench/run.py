"""The measurement plan: every backend × worker count, plus the peer issuer, in one invocation."""

from __future__ import annotations

import base64
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench import peer as peer_mod
from bench.service import (
    CLIENT_ID,
    Backend,
    FluideServer,
    count_exchange_audit_rows,
    create_developer,
    create_pg_database,
    drop_pg_database,
    service_env,
)
from bench.system import RssSampler, tree_cpu_seconds
from bench.wrk import Load, WrkResult, run_wrk

# The guard's cost is the difference between two routes that do the same work: both health
# checks read the runtime's database probe and send a body serialised once, each through one
# FastAPI dependency; only the product one passes the guard (checks 1-12 of DESIGN §3.5).
UNGUARDED = "/api/v1/health"
GUARDED = "/api/v1/hr/health"
EXCHANGE = "/api/v1/authorize/token"
# The guarded route again, by a partner acting for a client company (DESIGN §3.7): the act-as
# check (headers, scope, membership from the in-memory view) on top of checks 1-12.
ACT_AS = ("X-Workspace-Id", "X-Acting-Company-Id")
# The same exchange in the OAuth wire format (DESIGN §3.6), with the same credential: issue 16
# wants it within 10 % of EXCHANGE.
OAUTH_TOKEN = "/oauth/token"  # noqa: S105 (a path)
OAUTH_BODY = "grant_type=client_credentials"
# A guarded product read (issue 19): one page of 20 employees out of SEEDED_EMPLOYEES, read
# with the same token as the guarded row: the guard, a query, 20 rows serialised.
PRODUCT_READ = "/api/v1/hr/employees?limit=20"
SEEDED_EMPLOYEES = 40


@dataclass
class Options:
    duration: float = 10.0  # seconds per throughput measurement
    latency_duration: float = 5.0  # seconds per one-connection latency measurement
    warmup: float = 2.0
    connections: int = 32
    threads: int = 1
    workers: tuple[int, ...] = (1, 2)
    server: str = "granian"  # the HTTP server `fluide serve` runs: granian or uvicorn
    backends: tuple[str, ...] = ("sqlite", "postgres")
    pg_admin_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    redis_url: str | None = "redis://127.0.0.1:6379/14"
    peer: bool = True
    quick: bool = False
    work_dir: Path | None = None
    log: Callable[[str], None] = print

    @property
    def load(self) -> Load:
        return Load(self.threads, self.connections, self.duration)

    @property
    def latency_load(self) -> Load:
        return Load(1, 1, self.latency_duration)

    def as_dict(self) -> dict[str, Any]:
        return {
            "duration_s": self.duration,
            "latency_duration_s": self.latency_duration,
            "warmup_s": self.warmup,
            "connections": self.connections,
            "threads": self.threads,
            "workers": list(self.workers),
            "server": self.server,
            "backends": list(self.backends),
            "redis_with_postgres": self.redis_url is not None,
            "peer": self.peer,
            "quick": self.quick,
        }


@dataclass
class Plan:
    options: Options
    results: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    peer: dict[str, Any] = field(default_factory=dict)


def _bearer_headers(token: str, api_key: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "X-Fluide-Api-Key": api_key,
        "X-Fluide-Client-Id": CLIENT_ID,
    }


def oauth_token_kw(api_key: str, api_secret: str) -> dict[str, Any]:
    """wrk arguments of a client_credentials request, ``client_secret_basic`` (RFC 6749 §2.3.1:
    each part form-urlencoded, then Basic)."""
    raw = f"{quote(api_key, safe='')}:{quote(api_secret, safe='')}".encode()
    headers = {
        "Authorization": "Basic " + base64.b64encode(raw).decode(),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return {"method": "POST", "headers": headers, "body": OAUTH_BODY}


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def _warm(url: str, opts: Options, **kw: Any) -> None:
    if opts.warmup > 0:
        run_wrk(url, Load(opts.threads, opts.connections, opts.warmup), **kw)


def _measured(pid: int, url: str, load: Load, **kw: Any) -> WrkResult:
    """One wrk run, plus the server's CPU time per completed request.

    On a shared machine the request rate says how much CPU the server was given; CPU per request
    says how much work a request costs, whatever the neighbours do.
    """
    before = tree_cpu_seconds(pid)
    result = run_wrk(url, load, **kw)
    used = tree_cpu_seconds(pid) - before
    result.extra["server_cpu_s"] = round(used, 3)
    result.extra["server_cpu_ms_per_request"] = (
        round(used * 1000 / result.requests, 3) if result.requests else None
    )
    return result


def _latency_added(guarded: WrkResult, unguarded: WrkResult) -> dict[str, float]:
    return {
        "p50": round(guarded.latency_ms["p50"] - unguarded.latency_ms["p50"], 3),
        "p99": round(guarded.latency_ms["p99"] - unguarded.latency_ms["p99"], 3),
    }


def _acting_headers(server: FluideServer, env: dict[str, str]) -> dict[str, str]:
    """A partner's token and the act-as headers of one of its client companies."""
    partner = create_developer(env, "bench-partner@example.com", partner=True)
    headers = _bearer_headers(server.exchange(partner)["accessToken"], partner.api_key)
    workspace_id, company_id = server.client_company(headers)
    return headers | dict(zip(ACT_AS, (workspace_id, company_id), strict=True))


def measure_acting(
    server: FluideServer, env: dict[str, str], opts: Options, label: str
) -> WrkResult:
    """The guarded route with the act-as headers, measured like the guarded row."""
    acting_kw: dict[str, Any] = {"headers": _acting_headers(server, env)}
    _warm(server.base_url + GUARDED, opts, **acting_kw)
    opts.log(f"  {label}: guarded GET {GUARDED} acting for a client company")
    return _measured(server.pid, server.base_url + GUARDED, opts.load, **acting_kw)


def measure_product_read(
    server: FluideServer, headers: dict[str, str], opts: Options, label: str
) -> WrkResult:
    """``PRODUCT_READ`` with the guarded row's token, once the tenant has its employees."""
    server.seed_employees(headers, SEEDED_EMPLOYEES)
    _warm(server.base_url + PRODUCT_READ, opts, headers=headers)
    opts.log(f"  {label}: guarded product read GET {PRODUCT_READ}")
    return _measured(server.pid, server.base_url + PRODUCT_READ, opts.load, headers=headers)


def _acting_out(acting: WrkResult, unguarded: WrkResult) -> dict[str, Any]:
    cpu_u = unguarded.extra["server_cpu_ms_per_request"]
    cpu_a = acting.extra["server_cpu_ms_per_request"]
    return {
        "guarded_acting": acting.as_dict(),
        "guarded_acting_ratio": round(acting.rps / unguarded.rps, 3) if unguarded.rps else None,
        "guarded_acting_ratio_by_cpu": round(cpu_u / cpu_a, 3) if cpu_u and cpu_a else None,
    }


def _merged(parts: list[WrkResult]) -> WrkResult:
    """Several runs of one route as one: counts, durations and CPU added up; each latency
    percentile the worst of the parts (a merge of percentiles is not exact: this one never
    flatters)."""
    first = parts[0]
    merged = WrkResult(
        first.url,
        first.connections,
        sum(p.requests for p in parts),
        sum(p.duration_s for p in parts),
        {k: sum(p.errors.get(k, 0) for p in parts) for k in first.errors},
        {k: max(p.latency_ms.get(k, 0.0) for p in parts) for k in first.latency_ms},
    )
    for side in ("server", "client"):
        if all(p.extra.get(f"{side}_cpu_s") is not None for p in parts):
            used = sum(p.extra[f"{side}_cpu_s"] for p in parts)
            merged.extra[f"{side}_cpu_s"] = round(used, 3)
            merged.extra[f"{side}_cpu_ms_per_request"] = (
                round(used * 1000 / merged.requests, 4) if merged.requests else None
            )
    return merged


def measure_pair(
    pid: int, a: tuple[str, dict[str, Any]], b: tuple[str, dict[str, Any]], load: Load
) -> tuple[WrkResult, WrkResult]:
    """Two routes to compare, in the order A B B A, each run half the load's duration, the
    halves of each added up (``_merged``): both get the same share of the early and the late
    part of the measurement, so a drift of the machine or of the data (a table the first route
    grows) does not favour the one measured first."""
    half = Load(load.threads, load.connections, load.duration / 2)
    runs: dict[str, list[WrkResult]] = {"a": [], "b": []}
    for which in ("a", "b", "b", "a"):
        url, kw = a if which == "a" else b
        runs[which].append(_measured(pid, url, half, **kw))
    return _merged(runs["a"]), _merged(runs["b"])


def _token_pair(
    pid: int,
    exchange: tuple[str, dict[str, Any]],
    oauth: tuple[str, dict[str, Any]],
    load: Load,
    count_rows: Callable[[], tuple[int, int]],
) -> tuple[WrkResult, WrkResult, list[tuple[int, int]]]:
    """The JSON exchange and ``/oauth/token`` as ``measure_pair`` runs two routes (A B B A),
    with the audit and issued-token rows each half wrote. Returns the two results and the rows
    as cumulative counts: [start, after the exchange's, after both]."""
    half = Load(load.threads, load.connections, load.duration / 2)
    runs: dict[str, list[WrkResult]] = {"x": [], "o": []}
    written = {"x": [0, 0], "o": [0, 0]}
    before = count_rows()
    for which in ("x", "o", "o", "x"):
        url, kw = exchange if which == "x" else oauth
        runs[which].append(_measured(pid, url, half, **kw))
        time.sleep(0.5)  # let requests wrk abandoned at its deadline finish their commit
        after = count_rows()
        written[which][0] += after[0] - before[0]
        written[which][1] += after[1] - before[1]
        before = after
    x, o = written["x"], written["o"]
    rows = [(0, 0), (x[0], x[1]), (x[0] + o[0], x[1] + o[1])]
    return _merged(runs["x"]), _merged(runs["o"]), rows


def measure_config(
    backend: Backend, workers: int, opts: Options, work: Path, peer: peer_mod.PeerServer | None
) -> dict[str, Any]:
    """One server (backend × workers): public vs guarded reads, token exchange, RSS."""
    data_dir = work / f"{backend.name}-{workers}w"
    data_dir.mkdir(parents=True, exist_ok=True)
    env = service_env(data_dir, backend)
    dev = create_developer(env)
    out: dict[str, Any] = {"backend": backend.label, "workers": workers, "server": opts.server}
    with FluideServer(env, workers, data_dir / "server.log", opts.server) as server:
        token = server.exchange(dev)["accessToken"]
        base = server.base_url
        guarded_kw: dict[str, Any] = {"headers": _bearer_headers(token, dev.api_key)}
        exchange_kw: dict[str, Any] = {"method": "POST", "headers": dev.exchange_headers()}
        oauth_kw = oauth_token_kw(dev.api_key, dev.api_secret)
        _warm(base + UNGUARDED, opts)
        _warm(base + GUARDED, opts, **guarded_kw)
        _warm(base + EXCHANGE, opts, **exchange_kw)
        _warm(base + OAUTH_TOKEN, opts, **oauth_kw)
        with RssSampler(server.pid) as rss:
            opts.log(
                f"  {backend.label} {workers}w: unguarded GET {UNGUARDED}, guarded GET {GUARDED}"
            )
            unguarded, guarded = measure_pair(
                server.pid, (base + UNGUARDED, {}), (base + GUARDED, guarded_kw), opts.load
            )
            acting = measure_acting(server, env, opts, f"{backend.label} {workers}w")
            product = measure_product_read(
                server, guarded_kw["headers"], opts, f"{backend.label} {workers}w"
            )
            opts.log(f"  {backend.label} {workers}w: latency at one connection")
            lat_unguarded = run_wrk(base + UNGUARDED, opts.latency_load)
            lat_guarded = run_wrk(base + GUARDED, opts.latency_load, **guarded_kw)
            db_url = _db_url(data_dir, backend)
            opts.log(f"  {backend.label} {workers}w: POST {EXCHANGE} and POST {OAUTH_TOKEN}")
            exchange, oauth, rows = _token_pair(
                server.pid,
                (base + EXCHANGE, exchange_kw),
                (base + OAUTH_TOKEN, oauth_kw),
                opts.load,
                lambda: count_exchange_audit_rows(db_url, dev.tenant_id),
            )
    audit_rows = rows[1][0] - rows[0][0]
    out["unguarded"] = unguarded.as_dict()
    out["guarded"] = guarded.as_dict()
    out["guarded_ratio"] = round(guarded.rps / unguarded.rps, 3) if unguarded.rps else None
    out.update(_acting_out(acting, unguarded))
    out["product_read"] = product.as_dict()
    out["latency_one_connection"] = {
        "unguarded": lat_unguarded.as_dict(),
        "guarded": lat_guarded.as_dict(),
        "added_ms": _latency_added(lat_guarded, lat_unguarded),
    }
    out["latency_added_under_load_ms"] = _latency_added(guarded, unguarded)
    cpu_u = unguarded.extra["server_cpu_ms_per_request"]
    cpu_g = guarded.extra["server_cpu_ms_per_request"]
    # What the ratio would be on a host where the server has the CPU to itself.
    out["guarded_ratio_by_cpu"] = round(cpu_u / cpu_g, 3) if cpu_u and cpu_g else None
    out["exchange"] = exchange.as_dict() | {
        "audit_rows": audit_rows,
        "issued_token_rows": rows[1][1] - rows[0][1],
        # wrk stops counting at its deadline; the server may still commit a few more.
        "every_success_audited": audit_rows >= exchange.ok,
    }
    oauth_rows = rows[2][0] - rows[1][0]
    out["oauth_token"] = oauth.as_dict() | {
        "audit_rows": oauth_rows,
        "issued_token_rows": rows[2][1] - rows[1][1],
        "every_success_audited": oauth_rows >= oauth.ok,
    }
    out["oauth_vs_exchange"] = _ratio(oauth.rps, exchange.rps)
    out["oauth_vs_exchange_by_cpu"] = _ratio(
        exchange.extra["server_cpu_ms_per_request"], oauth.extra["server_cpu_ms_per_request"]
    )
    serving = rss.serving()
    out["rss_mb"] = {
        "per_serving_process": [round(v, 1) for v in sorted(serving.values())],
        "max": round(max(serving.values()), 1) if serving else None,
        "all_processes": {
            f"{rss.roles.get(pid, '?')}:{pid}": round(mb, 1) for pid, mb in rss.peak_mb.items()
        },
    }
    if peer is not None:
        # Measured right after ours, so both see the same machine weather.
        opts.log(f"  {backend.label} {workers}w: peer oidc-provider POST /token")
        peer_run = _measured(
            peer.pid,
            peer.base_url + "/token",
            opts.load,
            method="POST",
            headers=peer.token_headers,
            body=peer_mod.TOKEN_BODY,
        )
        out["peer_exchange"] = peer_run.as_dict()
        out["exchange_vs_peer"] = round(exchange.rps / peer_run.rps, 3) if peer_run.rps else None
        cpu_x = exchange.extra["server_cpu_ms_per_request"]
        cpu_p = peer_run.extra["server_cpu_ms_per_request"]
        out["exchange_vs_peer_by_cpu"] = round(cpu_p / cpu_x, 3) if cpu_x and cpu_p else None
    return out


def measure_target(base: str, api_key: str, api_secret: str, opts: Options) -> dict[str, Any]:
    """The same measurements against a server someone else started (no RSS, no audit)."""
    import httpx

    exchange_headers = {
        "X-Fluide-Api-Key": api_key,
        "X-Fluide-Api-Secret": api_secret,
        "X-Fluide-Client-Id": CLIENT_ID,
    }
    resp = httpx.post(base + EXCHANGE, headers=exchange_headers, timeout=10)
    if resp.status_code != 200:
        raise RuntimeError(f"token exchange failed: {resp.status_code} {resp.text[:200]}")
    guarded_kw: dict[str, Any] = {"headers": _bearer_headers(resp.json()["accessToken"], api_key)}
    exchange_kw: dict[str, Any] = {"method": "POST", "headers": exchange_headers}
    _warm(base + EXCHANGE, opts, **exchange_kw)
    exchange = run_wrk(base + EXCHANGE, opts.load, **exchange_kw)
    oauth_kw = oauth_token_kw(api_key, api_secret)
    _warm(base + OAUTH_TOKEN, opts, **oauth_kw)
    oauth = run_wrk(base + OAUTH_TOKEN, opts.load, **oauth_kw)
    unguarded = run_wrk(base + UNGUARDED, opts.load)
    guarded = run_wrk(base + GUARDED, opts.load, **guarded_kw)
    return {
        "target": base,
        "exchange": exchange.as_dict(),
        "oauth_token": oauth.as_dict(),
        "oauth_vs_exchange": _ratio(oauth.rps, exchange.rps),
        "unguarded": unguarded.as_dict(),
        "guarded": guarded.as_dict(),
        "guarded_ratio": round(guarded.rps / unguarded.rps, 3) if unguarded.rps else None,
    }


def _db_url(data_dir: Path, backend: Backend) -> str:
    if backend.database_url:
        return backend.database_url
    return f"sqlite+aiosqlite:///{(data_dir / 'fluide.db').resolve()}"


def run_plan(opts: Options, backends: list[Backend], skipped: list[dict[str, str]]) -> Plan:
    plan = Plan(opts, skipped=list(skipped))
    with tempfile.TemporaryDirectory(prefix="fluide-bench-", dir=opts.work_dir) as tmp:
        work = Path(tmp)
        peer_server: peer_mod.PeerServer | None = None
        try:
            if opts.peer:
                try:
                    version = peer_mod.ensure_installed()
                    peer_server = peer_mod.PeerServer(work / "peer.log").__enter__()
                    _warm(
                        peer_server.base_url + "/token",
                        opts,
                        method="POST",
                        headers=peer_server.token_headers,
                        body=peer_mod.TOKEN_BODY,
                    )
                    plan.peer = {
                        "name": "oidc-provider",
                        "version": version,
                        "node": peer_mod.node_version(),
                        "grant": "client_credentials",
                        "adapter": "in-memory",
                        "token": peer_server.sample_token(),
                    }
                except peer_mod.PeerUnavailable as exc:
                    plan.peer = {"name": "oidc-provider", "skipped": str(exc)}
                    opts.log(f"peer skipped: {exc}")
            for backend in backends:
                for workers in opts.workers:
                    opts.log(f"measuring {backend.label} with {workers} worker(s)")
                    try:
                        plan.results.append(
                            _with_database(backend, workers, opts, work, peer_server)
                        )
                    except Exception as exc:  # report it and go on with the other configs
                        reason = f"{type(exc).__name__}: {str(exc)[:300]}"
                        plan.skipped.append(
                            {"config": f"{backend.label} {workers}w", "reason": reason}
                        )
                        opts.log(f"  failed: {reason}")
        finally:
            if peer_server is not None:
                peer_server.stop()
    _summarise_peer(plan)
    return plan


def _with_database(
    backend: Backend,
    workers: int,
    opts: Options,
    work: Path,
    peer: peer_mod.PeerServer | None,
) -> dict[str, Any]:
    if backend.name != "postgres":
        return measure_config(backend, workers, opts, work, peer)
    name, url = create_pg_database(opts.pg_admin_url)
    try:
        per_run = Backend(backend.name, url, backend.redis_url)
        return measure_config(per_run, workers, opts, work, peer)
    finally:
        drop_pg_database(opts.pg_admin_url, name)


def _summarise_peer(plan: Plan) -> None:
    runs = [r["peer_exchange"]["rps"] for r in plan.results if "peer_exchange" in r]
    if runs:
        plan.peer["exchange_rps_runs"] = runs
        plan.peer["exchange_rps_median"] = round(statistics.median(runs), 1)
