"""A real ``fluide serve`` on a free loopback port, with a fresh SQLite data dir and a developer
created through ``fluide accounts create --verified --partner --json`` (as a person would)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

FLUIDE = str(Path(sys.executable).with_name("fluide"))
PASSWORD = "correct-horse-battery-staple"


@dataclass
class LiveServer:
    base_url: str
    data_dir: Path
    account_id: str
    tenant_id: str
    api_key: str
    api_secret: str
    email: str
    password: str


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLUIDE_")}
    env.update(
        {
            "FLUIDE_DATA_DIR": str(data_dir),
            "FLUIDE_LOG_LEVEL": "WARNING",
            # The suites below exchange a token per destructive call: lift the abuse limits.
            "FLUIDE_EXCHANGE_LIMIT_PER_KEY": "100000/minute",
            "FLUIDE_EXCHANGE_LIMIT_PER_IP": "100000/minute",
            "FLUIDE_SIGNIN_LIMIT": "100000/minute",
        }
    )
    return env


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    if not Path(FLUIDE).exists():
        pytest.skip(f"the fluide command is not installed next to {sys.executable}")
    data_dir = tmp_path_factory.mktemp("live")
    env = _env(data_dir)
    email = "playground@example.com"
    created = subprocess.run(
        [
            *(FLUIDE, "accounts", "create", "--email", email, "--password", PASSWORD),
            # A partner: the workspace routes answer it too (docs/partners.md).
            *("--verified", "--partner", "--json", "--data-dir", str(data_dir)),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    account = json.loads(created.stdout)
    port = _free_port()
    log = (data_dir / "serve.log").open("w")
    proc = subprocess.Popen(
        [FLUIDE, "serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"fluide serve exited with {proc.returncode}; see {log.name}")
            try:
                if httpx.get(f"{base_url}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("fluide serve did not become healthy within 60 s")
            time.sleep(0.2)
        yield LiveServer(
            base_url=base_url,
            data_dir=data_dir,
            account_id=account["accountId"],
            tenant_id=account["tenantId"],
            api_key=account["apiKey"],
            api_secret=account["apiSecret"],
            email=email,
            password=PASSWORD,
        )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


def artifacts_dir() -> Path:
    path = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def chromium_path() -> str | None:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    return None
