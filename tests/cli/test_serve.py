"""``fluide serve``: the port is bound before anything is said, the banner says where things
are, ``--server`` picks Granian (the default) or uvicorn, and ``--keep-alive`` reaches either and
a real server of each kind honours it."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fluide.cli import serve as serve_module
from fluide.cli.main import app
from fluide.settings import Settings
from tests.reliability.server import HOST, ServerProcess, free_port, server_env

runner = CliRunner()


@pytest.fixture
def serve_kwargs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """``serve`` up to the point where it would start a server on its socket; what it would pass."""
    monkeypatch.delenv("FLUIDE_DATABASE_URL", raising=False)
    monkeypatch.delenv("FLUIDE_KEEP_ALIVE_SECONDS", raising=False)
    monkeypatch.setenv("FLUIDE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FLUIDE_BASE_URL", "http://127.0.0.1:8000")  # serve sets a default
    calls: list[dict[str, Any]] = []

    def fake_serve_on(sock: socket.socket, **kwargs: Any) -> None:
        calls.append(kwargs)

    monkeypatch.setattr(serve_module, "serve_on", fake_serve_on)
    return calls


def test_keep_alive_defaults_to_5_seconds_on_granian(serve_kwargs: list[dict[str, Any]]) -> None:
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 0, result.output
    assert serve_kwargs[0]["keep_alive_seconds"] == 5
    assert serve_kwargs[0]["server"] == "granian"


def test_the_server_is_chosen_by_name_and_nothing_else(
    serve_kwargs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runner.invoke(app, ["serve", "--server", "uvicorn"]).exit_code == 0
    assert runner.invoke(app, ["serve", "--server", "granian"]).exit_code == 0
    assert [c["server"] for c in serve_kwargs] == ["uvicorn", "granian"]
    monkeypatch.setenv("COLUMNS", "200")
    for bad in ("hypercorn", "Granian", "", "uvicorn --reload"):
        result = runner.invoke(app, ["serve", "--server", bad])
        assert result.exit_code == 2, bad
        assert "Traceback" not in result.output
    assert len(serve_kwargs) == 2  # no server started for a bad name


def test_keep_alive_from_the_environment_and_the_option_wins(
    serve_kwargs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLUIDE_KEEP_ALIVE_SECONDS", "75")
    assert runner.invoke(app, ["serve"]).exit_code == 0
    assert runner.invoke(app, ["serve", "--keep-alive", "7"]).exit_code == 0
    assert [c["keep_alive_seconds"] for c in serve_kwargs] == [75, 7]


def test_keep_alive_must_be_positive(serve_kwargs: list[dict[str, Any]]) -> None:
    result = runner.invoke(app, ["serve", "--keep-alive", "0"])
    assert result.exit_code == 2
    assert not serve_kwargs


@pytest.fixture(params=["granian", "uvicorn"])
def server_7s(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    args = ("--keep-alive", "7", "--server", request.param)
    server = ServerProcess(tmp_path, server_env(tmp_path, None), args=args)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, body = data.split(b"\r\n\r\n", 1)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head


@pytest.mark.slow
def test_serve_keeps_an_idle_connection_open_for_the_keep_alive(server_7s: ServerProcess) -> None:
    with socket.create_connection((HOST, server_7s.port), timeout=15) as sock:
        sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: fluide\r\n\r\n")
        assert _read_response(sock).startswith(b"HTTP/1.1 200")
        answered = time.monotonic()
        # Either server's default would close it by 5 s: past that, still open (no EOF to read).
        time.sleep(5.8)
        readable, _, _ = select.select([sock], [], [], 0)
        assert not readable, "the server closed the idle connection before its keep-alive"
        assert sock.recv(1) == b""  # blocks until the server closes it
        closed_after = time.monotonic() - answered
    assert 6.5 <= closed_after <= 10.0, closed_after


def test_a_taken_port_fails_first_with_one_line(tmp_path: Path) -> None:
    """Nothing migrated, no banner: the address is checked before anything is said."""
    env = server_env(tmp_path / "data", None)
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "fluide", "serve", "--port", str(port)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"error: port {port} on {HOST} is already in use (another `fluide serve`?): stop it, "
        f"or choose another port: fluide serve --port {port + 1} (make serve PORT={port + 1})"
    ]
    assert "Fluide Connect" not in done.stdout + done.stderr
    assert not (tmp_path / "data").exists()  # not even the data dir


def test_the_banner_comes_after_the_bind_and_says_where_things_are(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, server_env(tmp_path, None))
    server.start()
    try:
        log = (tmp_path / f"server-{server.port}-1.stderr").read_text()
    finally:
        server.stop()
    base = f"http://{HOST}:{server.port}"
    assert f"Fluide Connect on {base}" in log
    assert f"{base}/connect" in log and f"{base}/docs" in log
    assert f"accounts create --email you@example.com --verified --data-dir {tmp_path}" in log
    assert str(tmp_path / "outbox") in log


def test_serve_refuses_a_bad_database_url_in_one_line(tmp_path: Path) -> None:
    env = server_env(tmp_path, "postgresql://u:hunter2secret@127.0.0.1:1/nowhere")
    done = subprocess.run(
        [sys.executable, "-m", "fluide", "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: cannot connect to the database")
    assert "Traceback" not in done.stderr and "hunter2secret" not in done.stderr
    assert "Fluide Connect on" not in done.stderr


def test_a_bad_proxy_setting_stops_serve_before_it_starts(
    serve_kwargs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLUIDE_TRUSTED_PROXIES", "10.0.0.0/8,not-an-address")
    monkeypatch.setenv("COLUMNS", "200")
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 2
    assert (
        "Invalid setting FLUIDE_TRUSTED_PROXIES: 'not-an-address' is neither a hop count nor an "
        "IP address or network (CIDR)" in result.output
    )
    assert "Traceback" not in result.output
    assert serve_kwargs == []  # the server never started


def test_one_worker_needs_no_metrics_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Set then removed, so that monkeypatch restores whatever serve sets in os.environ.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "-")
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    settings = Settings(data_dir=tmp_path)
    assert serve_module.metrics_dir(settings, 1) is None
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    assert not (tmp_path / "metrics").exists()


def test_several_workers_share_an_emptied_metrics_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Set then removed, so that monkeypatch restores whatever serve sets in os.environ.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "-")
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    stale = tmp_path / "metrics" / "counter_4242.db"
    stale.parent.mkdir()
    stale.write_bytes(b"old counts")
    keep = tmp_path / "metrics" / "README"
    keep.write_text("not ours")
    path = serve_module.metrics_dir(Settings(data_dir=tmp_path), 2)
    assert path == (tmp_path / "metrics").resolve()
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(path)
    assert not stale.exists() and keep.exists()  # only the metrics files go
    # A directory the operator chose is used (and emptied) as it is, with one worker too.
    mine = tmp_path / "mine"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(mine))
    assert serve_module.metrics_dir(Settings(data_dir=tmp_path), 1) == mine
    assert mine.is_dir()


def test_a_bad_routes_file_stops_serve_in_one_line(
    serve_kwargs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    routes = tmp_path / "routes.toml"
    routes.write_text('[[route]]\nprefix = "/a"\nupstream = "http://h"\nscopes = { GET = "x:y" }\n')
    monkeypatch.setenv("FLUIDE_ROUTES_FILE", str(routes))
    monkeypatch.setenv("COLUMNS", "300")
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 2
    assert "FLUIDE_ROUTES_FILE" in result.output and "unknown scope 'x:y' for GET" in result.output
    assert "Traceback" not in result.output
    assert serve_kwargs == []
