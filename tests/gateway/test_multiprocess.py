"""Two real service processes on one PostgreSQL: a rotation without grace on one makes the
other refuse a token minted before it within a second (database polling, and Redis push)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from fluide.app import create_app
from tests.conftest import (
    CLIENT_ID,
    REDIS_URL,
    Dev,
    create_dev,
    make_settings,
    redis_or_skip,
    truncate_pg,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def serve(env: dict[str, str], data_dir: Path) -> Iterator[str]:
    port = _free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log = (data_dir / "server.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "fluide.app:app_from_env",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env={**env, "FLUIDE_DATA_DIR": str(data_dir)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/api/v1", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"server did not start: {(data_dir / 'server.log').read_text()}"
                )
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _prepare(tmp_path: Path, url: str) -> Dev:
    async def go() -> Dev:
        # Start from empty tables: signing keys another module left (under another key
        # encryption key) would not decrypt here.
        await truncate_pg(url)
        rt = create_app(make_settings(tmp_path / "setup", url))
        # Starting creates the signing keys once, before the servers start.
        async with rt.lifespan():
            return await create_dev(rt)

    return asyncio.run(go())


def _token(base: str, dev: Dev) -> str:
    resp = httpx.post(f"{base}/api/v1/authorize/token", headers=dev.exchange_headers(), timeout=10)
    assert resp.status_code == 200, resp.text
    token: str = resp.json()["accessToken"]
    return token


def _headers(token: str, dev: Dev) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "X-Fluide-Api-Key": dev.api_key,
        "X-Fluide-Client-Id": CLIENT_ID,
    }


@pytest.mark.parametrize("push", ["polling", "redis"])
def test_rotation_on_one_process_is_seen_by_the_other_within_a_second(
    pg_database: str, tmp_path: Path, push: str
) -> None:
    if push == "redis":
        redis_or_skip()
    settings = make_settings(tmp_path, pg_database)
    env = {
        **os.environ,
        "FLUIDE_DATABASE_URL": pg_database,
        "FLUIDE_PEPPER": settings.pepper.get_secret_value(),  # type: ignore[union-attr]
        "FLUIDE_KEY_ENCRYPTION_KEY": settings.key_encryption_key.get_secret_value(),  # type: ignore[union-attr]
        "FLUIDE_LOG_LEVEL": "WARNING",
    }
    env.pop("FLUIDE_REDIS_URL", None)
    if push == "redis":
        env["FLUIDE_REDIS_URL"] = REDIS_URL or ""
    dev = _prepare(tmp_path, pg_database)
    with serve(env, tmp_path / "a") as a, serve(env, tmp_path / "b") as b:
        caller = _token(a, dev)
        victim = _token(a, dev)
        health = f"{b}/api/v1/hr/health"
        assert httpx.get(health, headers=_headers(victim, dev), timeout=10).status_code == 200
        resp = httpx.post(
            f"{a}/api/v1/authorize/rotate-secret",
            headers=_headers(caller, dev),
            json={"graceSeconds": 0},
            timeout=10,
        )
        assert resp.status_code == 200, resp.text
        rotated = time.monotonic()
        refused_after = None
        with httpx.Client(timeout=5) as client:
            while time.monotonic() - rotated < 5:
                resp = client.get(health, headers=_headers(victim, dev))
                if resp.status_code == 401:
                    assert resp.json()["code"] == "TOKEN_REVOKED"
                    refused_after = time.monotonic() - rotated
                    break
                assert resp.status_code == 200, resp.text
                time.sleep(0.02)
        assert refused_after is not None, "process B never refused the old token"
        assert refused_after < 1.0, f"process B refused the old token after {refused_after:.2f}s"
