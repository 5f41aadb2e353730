"""Drive one request shape with wrk and parse what its Lua ``done`` hook prints."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

LUA = Path(__file__).with_name("lua") / "request.lua"


class WrkMissing(RuntimeError):
    """wrk is not installed (Debian: ``apt-get install -y wrk``)."""


def wrk_path() -> str | None:
    return shutil.which("wrk")


@dataclass(frozen=True)
class Load:
    """How hard to push: wrk threads, open connections, seconds."""

    threads: int = 1
    connections: int = 32
    duration: float = 10.0


@dataclass
class WrkResult:
    url: str
    connections: int
    requests: int
    duration_s: float
    errors: dict[str, int]
    latency_ms: dict[str, float]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        """Responses that were not 2xx/3xx, plus socket errors."""
        return sum(self.errors.values())

    @property
    def ok(self) -> int:
        return max(0, self.requests - self.errors.get("status", 0))

    @property
    def rps(self) -> float:
        """Successful (2xx/3xx) responses per second."""
        return self.ok / self.duration_s if self.duration_s > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ok"] = self.ok
        out["rps"] = round(self.rps, 1)
        return out


def run_wrk(
    url: str,
    load: Load,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: str | None = None,
    timeout_s: float = 5.0,
) -> WrkResult:
    exe = wrk_path()
    if exe is None:
        raise WrkMissing("wrk is not installed: apt-get install -y wrk")
    env = dict(os.environ)
    env["BENCH_METHOD"] = method
    env["BENCH_BODY"] = body or ""
    env["BENCH_HEADERS"] = "\n".join(f"{k}: {v}" for k, v in (headers or {}).items())
    seconds = max(1, round(load.duration))
    cmd = [
        exe,
        f"-t{max(1, min(load.threads, load.connections))}",
        f"-c{load.connections}",
        f"-d{seconds}s",
        f"--timeout={timeout_s:g}s",
        "-s",
        str(LUA),
        url,
    ]
    before = _children_cpu_seconds()
    proc = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=seconds + 30, check=False
    )
    # wrk is our only child waited for in between: the load generator's own CPU.
    client_cpu = _children_cpu_seconds() - before
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr.strip()[:300]}")
    raw = json.loads(line[len("WRKJSON ") :])
    requests = int(raw["requests"])
    return WrkResult(
        url=url,
        connections=load.connections,
        requests=requests,
        duration_s=raw["duration_us"] / 1e6,
        errors={k: int(v) for k, v in raw["errors"].items()},
        latency_ms={k: round(v / 1000.0, 3) for k, v in raw["latency_us"].items()},
        extra={
            "client_cpu_s": round(client_cpu, 3),
            "client_cpu_ms_per_request": (
                round(client_cpu * 1000 / requests, 4) if requests else None
            ),
        },
    )


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
