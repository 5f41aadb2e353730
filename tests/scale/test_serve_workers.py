"""``fluide serve --workers 2`` on the default SQLite file: one set of secrets and signing keys
made once by the parent, and a revocation enforced by both workers within a second."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt as pyjwt
import pytest
from bench.service import FluideServer

from tests.conftest import CLIENT_ID
from tests.scale.conftest import eventually

pytestmark = pytest.mark.slow


def _fluide(env: dict[str, str], *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "fluide", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[FluideServer, dict[str, str]]]:
    data_dir: Path = tmp_path_factory.mktemp("workers")
    # No pepper or key-encryption key in the environment: they are generated into the data dir
    # once, and every worker must read the same ones.
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLUIDE_")}
    env.update(
        {
            "FLUIDE_DATA_DIR": str(data_dir),
            "FLUIDE_PRODUCT_RATE_LIMIT": "100000/minute",
            "FLUIDE_LOG_LEVEL": "WARNING",
        }
    )
    creds = json.loads(
        _fluide(env, "accounts", "create", "--email", "w@example.com", "--verified", "--json")
    )
    env["BENCH_TEST_API_KEY"], env["BENCH_TEST_API_SECRET"] = creds["apiKey"], creds["apiSecret"]
    server = FluideServer(env, 2, data_dir / "server.log")
    try:
        server.start(timeout=90)
        yield server, env
    finally:
        server.stop()


def _exchange(server: FluideServer, env: dict[str, str]) -> str:
    # A new connection per call, so calls spread over the workers.
    resp = httpx.post(
        server.base_url + "/api/v1/authorize/token",
        headers={
            "X-Fluide-Api-Key": env["BENCH_TEST_API_KEY"],
            "X-Fluide-Api-Secret": env["BENCH_TEST_API_SECRET"],
            "X-Fluide-Client-Id": CLIENT_ID,
        },
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    return str(resp.json()["accessToken"])


def test_two_workers_share_secrets_and_one_signing_key(
    served: tuple[FluideServer, dict[str, str]],
) -> None:
    server, env = served
    assert len(server.worker_pids()) == 2
    # Calls spread over both workers; each must know the generated pepper and the signing key.
    kids = {pyjwt.get_unverified_header(_exchange(server, env))["kid"] for _ in range(20)}
    assert len(kids) == 1
    keys = json.loads(_fluide(env, "keys", "list", "--json"))
    states = sorted(k["state"] for k in keys)
    assert states == ["active", "next"], states  # created once, not once per worker


def test_a_revocation_is_enforced_by_both_workers_within_1s(
    served: tuple[FluideServer, dict[str, str]],
) -> None:
    server, env = served
    headers_of = {"X-Fluide-Api-Key": env["BENCH_TEST_API_KEY"], "X-Fluide-Client-Id": CLIENT_ID}
    token = _exchange(server, env)
    guarded = {**headers_of, "Authorization": f"Bearer {token}"}
    url = server.base_url + "/api/v1/hr/health"
    assert httpx.get(url, headers=guarded, timeout=10).status_code == 200
    resp = httpx.post(
        server.base_url + "/api/v1/authorize/revoke",
        headers={"Authorization": f"Bearer {token}", "X-Fluide-Client-Id": CLIENT_ID},
        timeout=10,
    )
    assert resp.status_code == 204

    def all_refuse() -> bool:
        # New connections each time, so both workers answer over the ten calls.
        codes = set()
        for _ in range(10):
            r = httpx.get(url, headers=guarded, timeout=10)
            codes.add((r.status_code, r.json().get("code")))
        return codes == {(401, "TOKEN_REVOKED")}

    eventually(all_refuse)
