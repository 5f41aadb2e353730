"""``fluide demo`` against a real ``fluide serve``: the printed lines work when pasted."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from tests.reliability.server import ServerProcess, free_port, server_env


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path / "data", server_env(tmp_path / "data", None))
    process.data_dir.mkdir()
    process.start()
    try:
        yield process
    finally:
        process.stop()


def demo(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fluide", "demo", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_printed_curl_pays_the_seeded_run(server: ServerProcess, tmp_path: Path) -> None:
    done = demo(server.env, "--base-url", server.base_url)
    assert done.returncode == 0, done.stderr
    script = done.stdout
    assert "curl" in script and "python3" in script
    # Pasted into a shell: the exchange, then the disbursement of the approved, funded run.
    pasted = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert pasted.returncode == 0, pasted.stderr
    paid = json.loads(pasted.stdout)
    assert paid["payoutCount"] == 3, paid
    net = next(line for line in script.splitlines() if "net pay NGN" in line)
    assert f"NGN {Decimal(paid['total']):,}" in net  # the wallet held exactly the net pay
    # A second demo makes a tenant of its own.
    again = demo(server.env, "--base-url", server.base_url)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[0] != script.splitlines()[0]


def test_demo_says_when_the_server_uses_another_database(
    server: ServerProcess, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    env = server_env(elsewhere, None)
    done = demo(env, "--base-url", server.base_url)
    assert done.returncode == 1
    assert f"no database at {elsewhere / 'fluide.db'}; creating one" in done.stderr
    assert f"the server at {server.base_url} does not know the key just created" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_demo_without_a_server(tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{free_port()}"
    done = demo(server_env(tmp_path, None), "--base-url", base)
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: cannot reach {base}: start the server first")
    assert not (tmp_path / "fluide.db").exists()  # nothing created for nothing
