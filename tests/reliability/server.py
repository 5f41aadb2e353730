"""A real ``fluide serve`` process on a free loopback port, for socket, crash and load tests.

Every server's stderr goes to a file that the session's leak scanner reads at the end
(tests/conftest.py), so a secret or token printed by a subprocess fails the run too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.reliability.leaks import register_secret, register_server_log

HOST = "127.0.0.1"
PEPPER = "reliability-pepper-" + "p" * 32
KEK = "reliability-kek-" + "k" * 32


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def server_env(data_dir: Path, database_url: str | None, **settings: str) -> dict[str, str]:
    """Environment for a server (and the CLI) sharing one database, pepper and key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLUIDE_")}
    env.update(
        {
            "FLUIDE_DATA_DIR": str(data_dir),
            "FLUIDE_PEPPER": PEPPER,
            "FLUIDE_KEY_ENCRYPTION_KEY": KEK,
            "FLUIDE_LOG_LEVEL": "INFO",
            "FLUIDE_EXCHANGE_LIMIT_PER_KEY": "1000000/minute",
            "FLUIDE_EXCHANGE_LIMIT_PER_IP": "1000000/minute",
            "FLUIDE_PRODUCT_RATE_LIMIT": "1000000/minute",
            "FLUIDE_REVOCATION_POLL_SECONDS": "0.2",
        }
    )
    if database_url:
        env["FLUIDE_DATABASE_URL"] = database_url
    env.update({f"FLUIDE_{k.upper()}": v for k, v in settings.items()})
    return env


@dataclass
class ServerProcess:
    """One ``python -m fluide serve`` process; restartable on the same port and database."""

    data_dir: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    args: tuple[str, ...] = ()  # more ``fluide serve`` options
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    kills: int = 0

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def _log_path(self) -> Path:
        return self.data_dir / f"server-{self.port}-{self.starts}.stderr"

    def start(self, timeout: float = 60.0) -> None:
        self.starts += 1
        log_path = self._log_path()
        register_server_log(log_path)
        with log_path.open("wb") as stderr:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "fluide",
                    "serve",
                    "--host",
                    HOST,
                    "--port",
                    str(self.port),
                    "--data-dir",
                    str(self.data_dir),
                    *self.args,
                ],
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.proc.returncode}: "
                    + self._log_path().read_text(errors="replace")[-2000:]
                )
            try:
                if httpx.get(self.base_url + "/api/v1/health", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server on port {self.port} not ready in {timeout} s")

    def kill9(self) -> None:
        """SIGKILL: no shutdown hook, no flush, no goodbye."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.kills += 1

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def create_account(self) -> dict[str, str]:
        """A verified account through the real CLI; its secret is registered for the scan."""
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "fluide",
                "accounts",
                "create",
                "--email",
                f"rel-{uuid.uuid4().hex[:10]}@example.com",
                "--verified",
                "--json",
                "--data-dir",
                str(self.data_dir),
            ],
            env=self.env,
            capture_output=True,
            check=True,
            timeout=120,
        )
        created: dict[str, str] = json.loads(out.stdout)
        register_secret(created["apiSecret"])
        return created


@contextlib.contextmanager
def running(
    data_dir: Path, database_url: str | None = None, **settings: str
) -> Iterator[ServerProcess]:
    server = ServerProcess(data_dir, server_env(data_dir, database_url, **settings))
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def raw_request(port: int, payload: bytes, wait: float = 10.0) -> bytes:
    """Send raw bytes, read until the server closes or ``wait`` s pass: no client-side rules."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(payload)
        await writer.drain()
        chunks: list[bytes] = []
        async with asyncio.timeout(wait):
            while True:
                try:
                    chunk = await reader.read(65536)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                chunks.append(chunk)
                if response_complete(b"".join(chunks)):
                    break
        return b"".join(chunks)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


def response_complete(data: bytes) -> bool:
    """Whether ``data`` holds a whole response (head, and a body of its Content-Length)."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return False


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def parse_response(data: bytes) -> RawResponse:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    return RawResponse(status, headers, body)
