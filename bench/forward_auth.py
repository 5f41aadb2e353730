"""``python -m bench.forward_auth``: requests/s through nginx + the decision endpoint against
nginx straight to the same upstream, in the same run (issue 22's goal: ≥ 0.8×, p99 added ≤ 2 ms).

One nginx runs deploy/nginx/nginx.conf (its ``/orders`` location asks ``fluide serve`` through
``auth_request``) plus two server blocks of its own: the upstream (``return 200``, so the
upstream costs nothing) and a "straight" front that proxies to it without asking. wrk sends the
same headers (a valid token) to both fronts.
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
from pathlib import Path
from typing import Any

from bench.service import Backend, FluideServer, create_developer, service_env
from bench.wrk import Load, run_wrk

RECIPE = Path(__file__).parents[1] / "deploy" / "nginx" / "nginx.conf"
CLIENT_ID = "fluide-developer"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def nginx_config(prefix: Path, fluide: int, front: int, straight: int, upstream: int) -> str:
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
    ]
    return text.replace("http {", "http {\n" + "\n".join(extra), 1)


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
        with FluideServer(env, 1, base / "fluide.log") as server:
            token = server.exchange(dev)["accessToken"]
            fluide_port = int(server.base_url.rsplit(":", 1)[1])
            front, straight, upstream = _port(), _port(), _port()
            prefix = base / "nginx"
            prefix.mkdir()
            conf = prefix / "nginx.conf"
            conf.write_text(nginx_config(prefix, fluide_port, front, straight, upstream))
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
                for name, port in (("straight", straight), ("guarded", front)):
                    result = run_wrk(f"http://127.0.0.1:{port}/orders/1", load, headers=headers)
                    runs[name] = result
            finally:
                proc.terminate()
                proc.wait(10)
    s, g = runs["straight"], runs["guarded"]
    return {
        "straight_rps": round(s.rps, 1),
        "guarded_rps": round(g.rps, 1),
        "ratio": round(g.rps / s.rps, 3) if s.rps else None,
        "straight_p99_ms": s.latency_ms.get("p99"),
        "guarded_p99_ms": g.latency_ms.get("p99"),
        "failed": {"straight": s.failed, "guarded": g.failed},
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
