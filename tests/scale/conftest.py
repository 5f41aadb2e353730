"""Real ``fluide serve`` processes on the test PostgreSQL (and Redis), stopped whatever happens.

A *cluster* is two single-worker servers on two loopback ports sharing one database, one pepper
and one key-encryption key, so a test knows which process it talks to. ``polling`` clusters
have no Redis (processes learn changes by polling the database); ``redis`` clusters share rate
limits and get changes pushed over Redis pub/sub.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from bench.service import FluideServer

from fluide.app import create_app
from fluide.identity.audit import Actor
from fluide.settings import Settings
from tests.conftest import CLIENT_ID, redis_or_skip, truncate_pg

SCALE_REDIS_DB = 12  # a Redis database of its own: other suites use FLUIDE_TEST_REDIS_URL's
PASSWORD = "correct horse battery staple 42"
# The promise under test (DESIGN §3.5): every process enforces a change within one second.
PROPAGATION_DEADLINE_S = 1.0


def scale_redis_url() -> str:
    parts = urlsplit(redis_or_skip())
    url = urlunsplit((parts.scheme, parts.netloc, f"/{SCALE_REDIS_DB}", "", ""))
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.flushdb()  # shared limit counters from an earlier run would skew the counts
    finally:
        client.close()
    return url


@dataclass
class ScaleDev:
    credential_id: str
    tenant_id: str
    email: str
    api_key: str
    api_secret: str

    def exchange_headers(self, secret: str | None = None) -> dict[str, str]:
        return {
            "X-Fluide-Api-Key": self.api_key,
            "X-Fluide-Api-Secret": secret or self.api_secret,
            "X-Fluide-Client-Id": CLIENT_ID,
        }

    def guarded_headers(self, token: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {token}",
            "X-Fluide-Api-Key": self.api_key,
            "X-Fluide-Client-Id": CLIENT_ID,
        }


@dataclass
class Cluster:
    mode: str  # "polling" | "redis"
    env: dict[str, str]
    servers: list[FluideServer] = field(default_factory=list)
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10))

    @property
    def a(self) -> str:
        return self.servers[0].base_url

    @property
    def b(self) -> str:
        return self.servers[1].base_url

    @contextmanager
    def running(self, data_dir: Path) -> Iterator[Cluster]:
        """Servers a and b started (one after the other: the first one migrates), stopped at
        the end whatever happens."""
        try:
            for name in ("a", "b"):
                server = FluideServer(self.env, 1, data_dir / f"server-{name}.log")
                self.servers.append(server)
                server.start(timeout=90)
            yield self
        finally:
            for server in self.servers:
                server.stop()
            self.http.close()

    def settings(self) -> Settings:
        return Settings(
            **{
                k[len("FLUIDE_") :].lower(): v
                for k, v in self.env.items()
                if k.startswith("FLUIDE_")
            }
        )

    def create_dev(self) -> ScaleDev:
        """A verified developer with a password (for the account routes) and one credential."""
        email = f"scale-{uuid.uuid4().hex[:10]}@example.com"

        async def go() -> ScaleDev:
            rt = create_app(self.settings())
            try:
                async with rt.infra.sessionmaker() as session, session.begin():
                    actor = Actor("system", "test", None, None)
                    account, _ = await rt.identity.accounts.sign_up(
                        session, actor, email=email, password=PASSWORD, tenant_name=None
                    )
                    issued = await rt.identity.accounts.mark_verified(session, actor, account)
                    assert issued is not None
                    return ScaleDev(
                        issued.credential.id,
                        account.tenant_id,
                        email,
                        issued.credential.api_key,
                        issued.api_secret,
                    )
            finally:
                await rt.infra.engine.dispose()

        return asyncio.run(go())

    def exchange(self, base: str, dev: ScaleDev, secret: str | None = None) -> dict[str, Any]:
        resp = self.http.post(
            base + "/api/v1/authorize/token", headers=dev.exchange_headers(secret)
        )
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        return body

    def guarded(self, base: str, dev: ScaleDev, token: str) -> httpx.Response:
        return self.http.get(base + "/api/v1/hr/health", headers=dev.guarded_headers(token))

    def fluide(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "fluide", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def cluster_env(data_dir: Path, database_url: str, redis_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLUIDE_")}
    env.update(
        {
            "FLUIDE_DATA_DIR": str(data_dir),
            "FLUIDE_DATABASE_URL": database_url,
            "FLUIDE_PEPPER": "scale-pepper-" + "p" * 32,
            "FLUIDE_KEY_ENCRYPTION_KEY": "scale-kek-" + "k" * 32,
            "FLUIDE_PRODUCT_RATE_LIMIT": "5/minute",
            "FLUIDE_EXCHANGE_LIMIT_PER_KEY": "30/minute",
            "FLUIDE_EXCHANGE_LIMIT_PER_IP": "100000/minute",
            "FLUIDE_LOG_LEVEL": "WARNING",
        }
    )
    if redis_url:
        env["FLUIDE_REDIS_URL"] = redis_url
    return env


@pytest.fixture(
    scope="module",
    params=["polling", pytest.param("redis", marks=pytest.mark.redis)],
)
def cluster(
    request: pytest.FixtureRequest, pg_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    mode = str(request.param)
    redis_url = scale_redis_url() if mode == "redis" else None
    # Earlier tests leave signing keys encrypted under their own key-encryption key.
    asyncio.run(truncate_pg(pg_database))
    data_dir = tmp_path_factory.mktemp(f"cluster-{mode}")
    with Cluster(mode, cluster_env(data_dir, pg_database, redis_url)).running(data_dir) as c:
        yield c


def eventually(check: Callable[[], bool], deadline_s: float = PROPAGATION_DEADLINE_S) -> float:
    """Poll ``check`` until it holds; return the seconds it took, or fail past the deadline."""
    start = time.monotonic()
    while True:
        if check():
            return time.monotonic() - start
        if time.monotonic() - start > deadline_s:
            pytest.fail(f"not true within {deadline_s:g} s")
        time.sleep(0.02)
