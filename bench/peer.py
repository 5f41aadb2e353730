"""The peer token issuer: the npm package ``oidc-provider`` with a client_credentials client.

``bench/peer/`` holds its package.json, package-lock.json and server script; ``npm ci`` installs
it there at bench time (node_modules is never committed).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from bench.system import free_port, stop_group, wait_until

PEER_DIR = Path(__file__).with_name("peer")
CLIENT_ID = "bench-client"
SCOPE = "api:read"
TOKEN_BODY = f"grant_type=client_credentials&scope={SCOPE}"


class PeerUnavailable(RuntimeError):
    """Node/npm missing or the install failed: the peer is skipped with this reason."""


def ensure_installed(timeout: float = 300.0) -> str:
    """Install oidc-provider into bench/peer (``npm ci``) if needed; returns its version."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise PeerUnavailable("node and npm are needed for the oidc-provider peer")
    marker = PEER_DIR / "node_modules" / "oidc-provider" / "package.json"
    if not marker.exists():
        lock = (PEER_DIR / "package-lock.json").exists()
        cmd = [npm, "ci" if lock else "install", "--no-audit", "--no-fund", "--loglevel=error"]
        proc = subprocess.run(
            cmd, cwd=PEER_DIR, capture_output=True, text=True, timeout=timeout, check=False
        )
        if proc.returncode != 0 or not marker.exists():
            raise PeerUnavailable(f"npm install failed: {proc.stderr.strip()[-300:]}")
    version: str = json.loads(marker.read_text())["version"]
    return version


def node_version() -> str | None:
    node = shutil.which("node")
    if node is None:
        return None
    out = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip() or None


class PeerServer:
    """``node server.mjs`` on a free loopback port; stopped on exit."""

    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.secret = secrets.token_urlsafe(32)
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def token_headers(self) -> dict[str, str]:
        basic = base64.b64encode(f"{CLIENT_ID}:{self.secret}".encode()).decode()
        return {
            "Authorization": f"Basic {basic}",
            "Content-Type": "application/x-www-form-urlencoded",
        }

    def __enter__(self) -> PeerServer:
        node = shutil.which("node")
        if node is None:
            raise PeerUnavailable("node is not installed")
        env = dict(os.environ, PEER_PORT=str(self.port), PEER_CLIENT_SECRET=self.secret)
        env["NODE_ENV"] = "production"
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [node, "server.mjs"],
                cwd=PEER_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if not wait_until(self._ready, 30, interval=0.2):
            self.stop()
            raise PeerUnavailable("the oidc-provider peer did not start: see " + str(self.log_path))
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            return False
        try:
            url = self.base_url + "/.well-known/openid-configuration"
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        stop_group(proc, timeout=10)

    def sample_token(self) -> dict[str, Any]:
        """One token, to record what the peer issues (alg, typ, audience)."""
        resp = httpx.post(
            self.base_url + "/token", headers=self.token_headers, content=TOKEN_BODY, timeout=10
        )
        if resp.status_code != 200:
            raise PeerUnavailable(f"peer token request failed: {resp.status_code}")
        token = resp.json()["access_token"]
        header = json.loads(_b64url(token.split(".")[0]))
        claims = json.loads(_b64url(token.split(".")[1]))
        return {"alg": header.get("alg"), "typ": header.get("typ"), "aud": claims.get("aud")}


def _b64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
