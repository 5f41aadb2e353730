"""Reference rows, measured in the same run as the service (issue 19): for each HTTP server,
the raw-ASGI and FastAPI hello ceilings (``bench.hello``), and Fluide Connect's public route,
guarded route and exchange on SQLite with one worker. Side by side they say how much of a
route's cost is the server's, the framework's and ours, on the machine of the run."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from bench.run import (
    EXCHANGE,
    GUARDED,
    UNGUARDED,
    Options,
    _bearer_headers,
    _measured,
    _warm,
    measure_pair,
)
from bench.service import Backend, FluideServer, create_developer, service_env
from bench.system import free_port, stop_group, wait_until

SERVERS = ("granian", "uvicorn")
APPS = {"raw_asgi_hello": "bench.hello:raw_app", "fastapi_hello": "bench.hello:fastapi_app"}
FLUIDE_ROWS = ("fluide_public", "fluide_guarded", "fluide_exchange")
ROOT = Path(__file__).resolve().parent.parent  # where ``bench`` imports from


def server_cmd(server: str, target: str, port: int) -> list[str]:
    """One worker of ``server`` serving the ASGI app ``target`` on loopback, quiet."""
    if server == "granian":
        return [
            *(sys.executable, "-m", "granian", "--interface", "asgi"),
            *("--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--no-log", target),
        ]
    if server == "uvicorn":
        return [
            *(sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1"),
            *("--port", str(port), "--log-level", "warning", "--no-access-log"),
        ]
    raise ValueError(f"unknown server {server!r}")


class HelloServer:
    """A reference app under one server, in a process group of its own; ``stop`` ends it."""

    def __init__(self, server: str, target: str, log_path: Path) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/"
        with log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                server_cmd(server, target, port),
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if not wait_until(self._ready, 30, interval=0.2):
            self.stop()
            tail = log_path.read_text(errors="replace")[-600:]
            raise RuntimeError(f"{server} serving {target} did not start: {tail}")

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            return False
        try:
            return httpx.get(self.url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        stop_group(self.proc)


def _hello(server: str, name: str, opts: Options, work: Path) -> dict[str, Any]:
    hello = HelloServer(server, APPS[name], work / f"{server}-{name}.log")
    try:
        _warm(hello.url, opts)
        return _measured(hello.proc.pid, hello.url, opts.load).as_dict()
    finally:
        hello.stop()


def _fluide(server: str, opts: Options, work: Path) -> dict[str, Any]:
    data_dir = work / f"fluide-{server}"
    data_dir.mkdir()
    env = service_env(data_dir, Backend("sqlite"))
    dev = create_developer(env)
    with FluideServer(env, 1, data_dir / "server.log", server) as fluide:
        base = fluide.base_url
        guarded_kw: dict[str, Any] = {
            "headers": _bearer_headers(fluide.exchange(dev)["accessToken"], dev.api_key)
        }
        exchange_kw: dict[str, Any] = {"method": "POST", "headers": dev.exchange_headers()}
        _warm(base + UNGUARDED, opts)
        _warm(base + GUARDED, opts, **guarded_kw)
        _warm(base + EXCHANGE, opts, **exchange_kw)
        public, guarded = measure_pair(
            fluide.pid, (base + UNGUARDED, {}), (base + GUARDED, guarded_kw), opts.load
        )
        exchange = _measured(fluide.pid, base + EXCHANGE, opts.load, **exchange_kw)
    return {
        "fluide_public": public.as_dict(),
        "fluide_guarded": guarded.as_dict(),
        "fluide_exchange": exchange.as_dict(),
    }


def measure_references(opts: Options) -> dict[str, dict[str, Any]]:
    """server → row → one wrk run (req/s, latency, server and wrk CPU per request). A server
    that cannot run a row has ``{"skipped": reason}`` there; the rest still run."""
    out: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="fluide-bench-ref-", dir=opts.work_dir) as tmp:
        work = Path(tmp)
        for server in SERVERS:
            rows: dict[str, Any] = {}
            for name in APPS:
                opts.log(f"reference: {name.replace('_', ' ')} on {server}")
                rows[name] = _run_or_skip(partial(_hello, server, name, opts, work))
            opts.log(f"reference: Fluide Connect (SQLite, 1 worker) on {server}")
            found = _run_or_skip(partial(_fluide, server, opts, work))
            rows.update(found if "skipped" not in found else dict.fromkeys(FLUIDE_ROWS, found))
            out[server] = rows
    return out


def _run_or_skip(measure: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return measure()
    except Exception as exc:  # report it, go on with the other rows
        return {"skipped": f"{type(exc).__name__}: {str(exc)[:300]}"}
