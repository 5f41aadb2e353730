"""Fixtures: the real app over ASGI on real SQLite, and on real PostgreSQL when configured.

``FLUIDE_TEST_DATABASE_URL`` (e.g. ``postgresql://postgres@127.0.0.1:5432/test``) turns on the
PostgreSQL half of every app-level test; without it those are skipped with the reason.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from fluide.app import App, create_app
from fluide.identity.audit import Actor
from fluide.kit.clock import FrozenClock
from fluide.migrations import upgrade
from fluide.models_registry import metadata
from fluide.settings import Settings, async_database_url

PG_URL = os.environ.get("FLUIDE_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("FLUIDE_TEST_REDIS_URL")
CLIENT_ID = "fluide-developer"
KEEP_TABLES = {"alembic_version", "clients"}


def unreachable(what: str, exc: BaseException) -> NoReturn:
    """A configured service that does not answer fails the test instead of skipping it.

    Absent configuration means a newcomer's laptop: those tests skip with the reason. But once
    ``FLUIDE_TEST_DATABASE_URL`` / ``FLUIDE_TEST_REDIS_URL`` is set (CI sets both), a service
    that cannot be reached would otherwise turn hundreds of tests into silent skips and leave
    the run green.
    """
    pytest.fail(
        f"{what} is set but the service cannot be reached ({type(exc).__name__}); "
        "start it or unset the variable",
        pytrace=False,
    )


def redis_or_skip(url: str | None = REDIS_URL) -> str:
    """``url`` when set and answering; skipped when unset; a failure when set but down."""
    if not url:
        pytest.skip("Redis tests need FLUIDE_TEST_REDIS_URL (CI sets it)")
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except Exception as exc:
        unreachable("FLUIDE_TEST_REDIS_URL", exc)
    finally:
        client.close()
    return url


def pg_url_or_skip() -> str:
    """``FLUIDE_TEST_DATABASE_URL`` when set; skipped when unset (a failure comes later, at
    the first connection, when it is set but down)."""
    if not PG_URL:
        pytest.skip("PostgreSQL tests need FLUIDE_TEST_DATABASE_URL (CI sets it)")
    return PG_URL


@pytest.fixture
def redis_url() -> str:
    """The test Redis (``FLUIDE_TEST_REDIS_URL``), or a skip where there is none."""
    return redis_or_skip()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate once; every test gets a copy of the file."""
    path = tmp_path_factory.mktemp("template") / "fluide.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


def _pg_admin(url: str, sql: str) -> None:
    async def go() -> None:
        engine = create_async_engine(async_database_url(url), isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(sql))
        await engine.dispose()

    asyncio.run(go())


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A database of its own for this test session, migrated once."""
    pg_url = pg_url_or_skip()
    name = f"fluide_test_{uuid.uuid4().hex[:10]}"
    try:
        _pg_admin(pg_url, f'CREATE DATABASE "{name}"')
    except Exception as exc:
        unreachable("FLUIDE_TEST_DATABASE_URL", exc)
    url = (
        make_url(async_database_url(pg_url))
        .set(database=name)
        .render_as_string(hide_password=False)
    )
    upgrade(url)
    yield url
    _pg_admin(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def truncate_pg(url: str) -> None:
    engine = create_async_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables if t.name not in KEEP_TABLES)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    await engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copy(template, tmp_path / "fluide.db")
        return f"sqlite+aiosqlite:///{tmp_path / 'fluide.db'}"
    url: str = request.getfixturevalue("pg_database")
    asyncio.run(truncate_pg(url))
    return url


def make_settings(tmp_path: Path, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "database_url": database_url,
        "pepper": "test-pepper-" + "x" * 32,
        "key_encryption_key": "test-kek-" + "y" * 32,
        "exchange_limit_per_key": "100000/minute",
        "exchange_limit_per_ip": "100000/minute",
        "revocation_poll_seconds": 0.2,
        "log_json": True,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change settings for its app."""
    return {}


@pytest.fixture
def settings(tmp_path: Path, database_url: str, settings_overrides: dict[str, Any]) -> Settings:
    return make_settings(tmp_path, database_url, **settings_overrides)


# Rate limits count in clock-aligned fixed windows (kit/ratelimit/base.window_start), on the
# real clock. A test that spends a small per-minute budget and expects the next call refused
# fails when a minute boundary falls between the two (CI saw it once in about 2,500 tests).
# Such tests ask for ``whole_minute``: they start with at least this much of the minute left.
MINUTE_HEADROOM_SECONDS = 15.0


def wait_for_whole_minute(headroom: float = MINUTE_HEADROOM_SECONDS) -> float:
    """Sleep past the next minute boundary when less than ``headroom`` seconds remain before
    it; the seconds slept (0.0 when there was room)."""
    left = 60.0 - time.time() % 60.0
    if left >= headroom:
        return 0.0
    time.sleep(left + 0.05)
    return left + 0.05


@pytest.fixture
def whole_minute() -> None:
    """The test runs inside one clock-aligned minute window (see ``wait_for_whole_minute``)."""
    wait_for_whole_minute()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def app(settings: Settings, clock: FrozenClock) -> AsyncIterator[App]:
    application = create_app(settings, clock)
    async with application.lifespan():
        yield application


@pytest.fixture
def runtime(app: App) -> App:
    """The running app, for tests that reach its parts (``runtime.infra``, ``.identity``)."""
    return app


@pytest.fixture
async def client(app: App) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@dataclass
class Dev:
    """A verified developer with one credential (secret known to the test only)."""

    account_id: str
    tenant_id: str
    credential_id: str
    api_key: str
    api_secret: str

    def exchange_headers(self, secret: str | None = None) -> dict[str, str]:
        return {
            "X-Fluide-Api-Key": self.api_key,
            "X-Fluide-Api-Secret": secret or self.api_secret,
            "X-Fluide-Client-Id": CLIENT_ID,
        }


async def create_dev(rt: App, email: str | None = None, verified: bool = True) -> Dev:
    actor = Actor("system", "test", None, None)
    email = email or f"dev-{uuid.uuid4().hex[:8]}@example.com"
    async with rt.infra.sessionmaker() as session, session.begin():
        account, _ = await rt.identity.accounts.sign_up(
            session, actor, email=email, password=None, tenant_name=None
        )
        if verified:
            issued = await rt.identity.accounts.mark_verified(session, actor, account)
        else:
            issued = await rt.identity.credentials.create(
                session,
                actor,
                tenant_id=account.tenant_id,
                account_id=account.id,
                name="Default key",
            )
        assert issued is not None
        return Dev(
            account.id,
            account.tenant_id,
            issued.credential.id,
            issued.credential.api_key,
            issued.api_secret,
        )


@pytest.fixture
async def dev(runtime: App) -> Dev:
    return await create_dev(runtime)


async def exchange(client: httpx.AsyncClient, dev: Dev, **kw: Any) -> dict[str, Any]:
    resp = await client.post("/api/v1/authorize/token", headers=dev.exchange_headers(**kw))
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def bearer(token: str, dev: Dev | None = None, client_id: str = CLIENT_ID) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}", "X-Fluide-Client-Id": client_id}
    if dev is not None:
        headers["X-Fluide-Api-Key"] = dev.api_key
    return headers


# ---- leak scanner (tests/reliability/leaks.py): no issued secret or token in any log ------


def pytest_configure(config: pytest.Config) -> None:
    from tests.reliability import leaks

    leaks.install()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from tests.reliability import leaks, report

    found = leaks.SCANNER.scan()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(
            f"leak scan: {len(leaks.SCANNER.values)} issued values, "
            f"{leaks.SCANNER.records_seen} log records, {len(leaks.SCANNER.files)} server logs, "
            f"{len(found)} leak(s)"
        )
        if report.COUNTS:
            reporter.write_line(f"reliability: {report.summary()}")
        for leak in found[:20]:
            reporter.write_line(f"LEAK: {leak}", red=True)
    if found:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


async def wait_for_status(
    client: httpx.AsyncClient,
    path: str,
    status: int,
    deadline: float,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """GET ``path`` until it answers ``status`` or ``deadline`` seconds pass; the last answer."""
    end = time.monotonic() + deadline
    while True:
        resp = await client.get(path, headers=headers)
        if resp.status_code == status or time.monotonic() > end:
            return resp
        await asyncio.sleep(0.05)


@asynccontextmanager
async def database_unreachable(runtime: App, backend: str, tmp_path: Path) -> AsyncIterator[None]:
    """The runtime's engine swapped for one whose database cannot be reached, then restored."""
    dead_url = (
        "postgresql+asyncpg://postgres@127.0.0.1:1/nowhere"
        if backend == "postgres"
        else f"sqlite+aiosqlite:///{tmp_path}/no/such/dir/fluide.db"
    )
    live = runtime.infra.engine
    runtime.infra.engine = create_async_engine(dead_url)
    try:
        yield
    finally:
        await runtime.infra.engine.dispose()
        runtime.infra.engine = live
