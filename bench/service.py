"""Start and stop ``fluide serve`` for a measurement, and the databases it runs on."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import psutil
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bench.system import free_port, role_of, stop_group, wait_until
from fluide.settings import async_database_url

CLIENT_ID = "fluide-developer"
# The bench measures the service, not its abuse limits: raise them far out of the way.
UNLIMITED = "1000000/minute"


@dataclass(frozen=True)
class Backend:
    """Where one configuration keeps its state."""

    name: str  # "sqlite" | "postgres"
    database_url: str | None = None  # None → SQLite in the data dir
    redis_url: str | None = None

    @property
    def label(self) -> str:
        return self.name + ("+redis" if self.redis_url else "")


@dataclass(frozen=True)
class Developer:
    account_id: str
    tenant_id: str
    api_key: str
    api_secret: str

    def __repr__(self) -> str:
        return f"Developer(tenant_id={self.tenant_id!r}, api_key=***, api_secret=***)"

    def exchange_headers(self) -> dict[str, str]:
        return {
            "X-Fluide-Api-Key": self.api_key,
            "X-Fluide-Api-Secret": self.api_secret,
            "X-Fluide-Client-Id": CLIENT_ID,
        }


def service_env(data_dir: Path, backend: Backend) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLUIDE_")}
    env.update(
        {
            "FLUIDE_DATA_DIR": str(data_dir),
            "FLUIDE_PEPPER": secrets.token_urlsafe(32),
            "FLUIDE_KEY_ENCRYPTION_KEY": secrets.token_urlsafe(32),
            "FLUIDE_EXCHANGE_LIMIT_PER_KEY": UNLIMITED,
            "FLUIDE_EXCHANGE_LIMIT_PER_IP": UNLIMITED,
            "FLUIDE_PRODUCT_RATE_LIMIT": UNLIMITED,
            "FLUIDE_TOKEN_TTL_SECONDS": "3600",
            "FLUIDE_LOG_LEVEL": "WARNING",
        }
    )
    if backend.database_url:
        env["FLUIDE_DATABASE_URL"] = backend.database_url
    if backend.redis_url:
        env["FLUIDE_REDIS_URL"] = backend.redis_url
    return env


def fluide_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "fluide", *args]


def create_developer(
    env: dict[str, str], email: str = "bench@example.com", *, partner: bool = False
) -> Developer:
    """``fluide accounts create --verified --json`` (also applies the migrations); ``--partner``
    for a partner tenant (DESIGN §3.7)."""
    flags = ("--partner",) if partner else ()
    proc = subprocess.run(
        fluide_cmd("accounts", "create", "--email", email, "--verified", "--json", *flags),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"fluide accounts create failed: {proc.stderr.strip()[-300:]}")
    out = json.loads(proc.stdout)
    return Developer(out["accountId"], out["tenantId"], out["apiKey"], out["apiSecret"])


class FluideServer:
    """``fluide serve --workers N --server S`` on a free loopback port, stopped on exit,
    whatever happens."""

    def __init__(
        self, env: dict[str, str], workers: int, log_path: Path, server: str = "granian"
    ) -> None:
        self.server = server
        self.env = env
        self.workers = workers
        self.port = free_port()
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def __enter__(self) -> FluideServer:
        self.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self, timeout: float = 90.0) -> None:
        args = ["serve", "--host", "127.0.0.1", "--port", str(self.port)]
        args += ["--workers", str(self.workers), "--server", self.server]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                fluide_cmd(*args),
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() reaches the workers
            )
        if not wait_until(self._ready, timeout, interval=0.25):
            self.stop()
            tail = self.log_path.read_text(errors="replace")[-600:]
            raise RuntimeError(f"fluide serve did not become ready in {timeout:g}s: {tail}")

    def _ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-1500:]
            raise RuntimeError(f"fluide serve exited with {self.proc.returncode}: {tail}")
        try:
            if httpx.get(self.base_url + "/api/v1", timeout=2).status_code != 200:
                return False
        except httpx.HTTPError:
            return False
        # With N workers, one answer proves only one is up: wait for N worker processes too
        # (the warm-up run that follows gives the last ones time to finish their start-up).
        return self.workers == 1 or len(self.worker_pids()) >= self.workers

    def worker_pids(self) -> list[int]:
        try:
            children = psutil.Process(self.pid).children(recursive=True)
        except psutil.Error:
            return []
        return [p.pid for p in children if role_of(p) == "worker"]

    def stop(self, timeout: float = 15.0) -> None:
        proc, self.proc = self.proc, None
        stop_group(proc, timeout)

    def exchange(self, dev: Developer) -> dict[str, Any]:
        resp = httpx.post(
            self.base_url + "/api/v1/authorize/token", headers=dev.exchange_headers(), timeout=10
        )
        if resp.status_code != 200:
            raise RuntimeError(f"token exchange failed: {resp.status_code} {resp.text[:200]}")
        body: dict[str, Any] = resp.json()
        return body

    def client_company(self, headers: dict[str, str]) -> tuple[str, str]:
        """A workspace and a client company of the partner whose token ``headers`` carry
        (the developer-session routes), for calls with the act-as headers."""
        ids: list[str] = []
        for path, body in (
            ("/api/v1/workspaces", {"name": "Bench clients"}),
            (
                "/api/v1/workspaces/{}/companies",
                {"name": "Bench Ltd", "countryCode": "NG", "currency": "NGN"},
            ),
        ):
            url = self.base_url + path.format(*ids)
            resp = httpx.post(url, headers=headers, json=body, timeout=10)
            if resp.status_code != 201:
                raise RuntimeError(f"{path} failed: {resp.status_code} {resp.text[:200]}")
            ids.append(resp.json()["id"])
        return ids[0], ids[1]

    def seed_employees(self, headers: dict[str, str], count: int) -> None:
        """``count`` employees in the tenant whose token ``headers`` carry (HR's create route),
        for the product-read row."""
        with httpx.Client(base_url=self.base_url, headers=headers, timeout=10) as client:
            for i in range(count):
                resp = client.post("/api/v1/hr/employees", json=_employee(i))
                if resp.status_code != 201:
                    raise RuntimeError(
                        f"seeding employees failed: {resp.status_code} {resp.text[:200]}"
                    )


def _employee(i: int) -> dict[str, Any]:
    return {
        "employeeCode": f"BENCH-{i:04d}",
        "firstName": "Bench",
        "lastName": f"Employee {i}",
        "email": f"bench.employee.{i}@example.com",
        "department": "Engineering",
        "designation": "Backend engineer",
        "employmentType": "FULL_TIME",
        "status": "ACTIVE",
        "salary": "7200000.00",
        "currency": "NGN",
        "hireDate": "2026-02-01",
        "countryCode": "NG",
        "bankAccount": {"accountNumber": "0123456789", "bankCode": "058"},
    }


# ---- PostgreSQL: a throw-away database per configuration ---------------------------------------


def _admin(url: str, sql: str) -> None:
    async def go() -> None:
        engine = create_async_engine(async_database_url(url), isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(text(sql))
        finally:
            await engine.dispose()

    try:
        # CREATE/DROP DATABASE queue behind each other (and behind test sessions doing the same
        # on a shared server): generous, but bounded.
        asyncio.run(asyncio.wait_for(go(), timeout=60))
    except TimeoutError:
        raise TimeoutError(f"PostgreSQL did not run {sql.split(' ', 2)[:2]} within 60 s") from None


def create_pg_database(admin_url: str) -> tuple[str, str]:
    """Create an empty database next to ``admin_url``; returns (name, its URL)."""
    name = f"fluide_bench_{uuid.uuid4().hex[:10]}"
    _admin(admin_url, f'CREATE DATABASE "{name}"')
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    return name, url


def drop_pg_database(admin_url: str, name: str) -> None:
    _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_reachable(admin_url: str) -> str | None:
    """None when reachable, else why not."""
    try:
        _admin(admin_url, "SELECT 1")
    except Exception as exc:
        return f"PostgreSQL unreachable at the configured URL ({type(exc).__name__})"
    return None


def redis_reachable(url: str) -> str | None:
    try:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=2)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:
        return f"Redis unreachable at the configured URL ({type(exc).__name__})"
    return None


def count_exchange_audit_rows(database_url: str, tenant_id: str) -> tuple[int, int]:
    """(successful token.exchange audit rows, issued_tokens rows) of one tenant."""

    async def go() -> tuple[int, int]:
        engine = create_async_engine(async_database_url(database_url))
        try:
            async with engine.connect() as conn:
                audits = await conn.scalar(
                    text(
                        "SELECT count(*) FROM audit_events WHERE tenant_id = :t "
                        "AND action = 'token.exchange' AND outcome = 'success'"
                    ),
                    {"t": tenant_id},
                )
                tokens = await conn.scalar(
                    text("SELECT count(*) FROM issued_tokens WHERE tenant_id = :t"),
                    {"t": tenant_id},
                )
                return int(audits or 0), int(tokens or 0)
        finally:
            await engine.dispose()

    return asyncio.run(go())
