"""``python -m bench.forward_auth``: requests/s through nginx + the decision endpoint against
nginx straight to the same upstream, in the same run (issue 22's goal: ≥ 0.8×, p99 added ≤ 2 ms).

One nginx runs deploy/nginx/nginx.conf (its ``/orders`` location asks ``fluide serve`` through
``auth_request``) plus three server blocks of its own: the upstream (``return 200``, so the
upstream costs nothing), a "straight" front that proxies to it without asking, and a "ceiling"
front that asks, through the same kind of ``auth_request`` subrequest, a decision service that
does no work at all: the raw ASGI hello of the reference rows (``bench.hello``) under Granian,
which allows every request. The ceiling is the most any Python decision service could reach on
this machine with this nginx. wrk sends the same headers (a valid token) to every front.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.reference import APPS, HelloServer
from bench.service import Backend, FluideServer, create_developer, service_env
from bench.wrk import Load, run_wrk

RECIPE = Path(__file__).parents[1] / "deploy" / "nginx" / "nginx.conf"
CLIENT_ID = "fluide-developer"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def nginx_config(
    prefix: Path, fluide: int, front: int, straight: int, upstream: int, ceiling: tuple[int, int]
) -> str:
    """The recipe with these ports, plus the upstream, the straight front and the ceiling front
    (``ceiling``: its listening port and the port of the do-nothing decision service)."""
    text = RECIPE.read_text()
    for old, new in [
        ("127.0.0.1:8000", f"127.0.0.1:{fluide}"),
        ("127.0.0.1:9000", f"127.0.0.1:{upstream}"),
        ("listen 8080;", f"listen 127.0.0.1:{front};"),
        ("worker_processes auto;", f"worker_processes 1;\npid {prefix}/nginx.pid;"),
    ]:
        text = text.replace(old, new)
    extra = [f"    {n}_temp_path {prefix}/{n};" for n in ("client_body", "proxy", "fastcgi")]
    extra += [f"    {n}_temp_path {prefix}/{n};" for n in ("uwsgi", "scgi")]
    extra += [
        "    access_log off;",
        f"    server {{ listen 127.0.0.1:{upstream}; location / {{ return 200 'ok'; }} }}",
        f"    server {{ listen 127.0.0.1:{straight}; location / {{ proxy_pass http://orders;",
        '        proxy_http_version 1.1; proxy_set_header Connection ""; } }',
        f"    upstream nothing_decides {{ server 127.0.0.1:{ceiling[1]}; keepalive 32; }}",
        f"    server {{ listen 127.0.0.1:{ceiling[0]};",
        "        location = /_decide { internal; proxy_pass http://nothing_decides/;",
        '            proxy_http_version 1.1; proxy_set_header Connection "";',
        '            proxy_pass_request_body off; proxy_set_header Content-Length ""; }',
        "        location / { auth_request /_decide; proxy_pass http://orders;",
        '            proxy_http_version 1.1; proxy_set_header Connection ""; } }',
    ]
    return text.replace("http {", "http {\n" + "\n".join(extra), 1)


@contextmanager
def nothing_running(server: HelloServer) -> Iterator[HelloServer]:
    try:
        yield server
    finally:
        server.stop()


def measure(duration: float, connections: int) -> dict[str, Any]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    with tempfile.TemporaryDirectory(prefix="fluide-fa-bench-") as tmp:
        base = Path(tmp)
        routes = base / "routes.toml"
        routes.write_text(
            '[[route]]\nprefix = "/orders"\nupstream = "http://127.0.0.1:9"\n'
            'scopes = { "*" = "books:read" }\n'
        )
        env = service_env(base / "data", Backend("sqlite"))
        env["FLUIDE_ROUTES_FILE"] = str(routes)
        dev = create_developer(env, f"fa-{secrets.token_hex(4)}@example.com")
        nothing = HelloServer("granian", APPS["raw_asgi_hello"], base / "hello.log")
        with nothing_running(nothing), FluideServer(env, 1, base / "fluide.log") as server:
            token = server.exchange(dev)["accessToken"]
            fluide_port = int(server.base_url.rsplit(":", 1)[1])
            nothing_port = int(nothing.url.rstrip("/").rsplit(":", 1)[1])
            front, straight, upstream, ceiling = _port(), _port(), _port(), _port()
            prefix = base / "nginx"
            prefix.mkdir()
            conf = prefix / "nginx.conf"
            conf.write_text(
                nginx_config(
                    prefix, fluide_port, front, straight, upstream, (ceiling, nothing_port)
                )
            )
            cmd = [nginx, "-p", str(prefix), "-c", str(conf), "-e", "stderr", "-g", "daemon off;"]
            proc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
            try:
                time.sleep(0.5)
                headers = {
                    "Authorization": f"Bearer {token}",
                    "X-Fluide-Api-Key": dev.api_key,
                    "X-Fluide-Client-Id": CLIENT_ID,
                }
                load = Load(connections=connections, duration=duration)
                runs = {}
                fronts = (("straight", straight), ("ceiling", ceiling), ("guarded", front))
                for name, port in fronts:
                    result = run_wrk(f"http://127.0.0.1:{port}/orders/1", load, headers=headers)
                    runs[name] = result
            finally:
                proc.terminate()
                proc.wait(10)
    s, c, g = runs["straight"], runs["ceiling"], runs["guarded"]
    return {
        "straight_rps": round(s.rps, 1),
        "guarded_rps": round(g.rps, 1),
        "ratio": round(g.rps / s.rps, 3) if s.rps else None,
        # The same subrequest to a decision service that does nothing: the most a Python
        # decision could reach here.
        "ceiling_rps": round(c.rps, 1),
        "ceiling_ratio": round(c.rps / s.rps, 3) if s.rps else None,
        "straight_p99_ms": s.latency_ms.get("p99"),
        "guarded_p99_ms": g.latency_ms.get("p99"),
        "ceiling_p99_ms": c.latency_ms.get("p99"),
        "failed": {"straight": s.failed, "ceiling": c.failed, "guarded": g.failed},
        "connections": connections,
        "duration_s": duration,
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.forward_auth", description=__doc__)
    p.add_argument("--duration", type=float, default=10.0, help="seconds per front")
    p.add_argument("--connections", type=int, default=16)
    args = p.parse_args(argv)
    print(json.dumps(measure(args.duration, args.connections), indent=2))


if __name__ == "__main__":
    main()
