"""SQLite transactions: writers take the write lock up front; read-only connections do not;
a wait for another connection's lock never blocks the event loop. PostgreSQL: no ping per
checkout, and connections the server killed cost at most one failed request."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from fluide.app import create_app
from fluide.kit.clock import FrozenClock
from fluide.kit.db import READ_ONLY, make_engine, read_only
from tests.conftest import create_dev, exchange, make_settings, truncate_pg


async def test_read_only_connections_do_not_wait_for_a_writer(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    # Two engines stand for two processes: each has one connection of its own.
    writer_engine, reader_engine = make_engine(url), make_engine(url)
    try:
        async with writer_engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (v INTEGER)"))
            await conn.execute(text("INSERT INTO t VALUES (1)"))
        async with writer_engine.connect() as writer:
            await writer.execute(text("INSERT INTO t VALUES (2)"))  # holds the write lock
            async with read_only(reader_engine).connect() as reader:
                # Without the option this BEGIN IMMEDIATE would wait for the writer.
                rows = await asyncio.wait_for(reader.execute(text("SELECT v FROM t")), 5)
                assert [v for (v,) in rows] == [1]  # the committed snapshot
                assert reader.sync_connection is not None
                assert reader.sync_connection.get_execution_options()[READ_ONLY] is True
            await writer.commit()
    finally:
        await writer_engine.dispose()
        await reader_engine.dispose()


async def test_a_second_writer_waits_without_blocking_the_loop(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    one, two = make_engine(url), make_engine(url)
    try:
        async with one.connect() as first:
            await first.execute(text("SELECT 1"))  # a read, but BEGIN IMMEDIATE was issued
            async with two.connect() as second:
                attempt = asyncio.ensure_future(second.execute(text("SELECT 1")))
                # The loop keeps turning while the second writer waits for the lock.
                ticks, started = 0, time.monotonic()
                while time.monotonic() - started < 0.5:
                    await asyncio.sleep(0.01)
                    ticks += 1
                assert ticks >= 20
                assert not attempt.done()
                await first.rollback()
                await asyncio.wait_for(attempt, 10)  # and proceeds once the first one ends
    finally:
        await one.dispose()
        await two.dispose()


async def test_one_connection_per_process_queues_requests(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (v INTEGER)"))

        async def add(v: int) -> None:
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO t VALUES (:v)"), {"v": v})
                await asyncio.sleep(0)  # let the others try to get in

        await asyncio.gather(*(add(v) for v in range(50)))
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 50
    finally:
        await engine.dispose()


# ---- PostgreSQL: no pre-ping round trip, and a killed connection costs at most one request ----


async def _backend_pids(engine: AsyncEngine, n: int) -> set[int]:
    """Check ``n`` connections out at once (so the pool holds ``n``) and return their pids."""
    conns = [await engine.connect() for _ in range(n)]
    try:
        return {int((await c.execute(text("SELECT pg_backend_pid()"))).scalar_one()) for c in conns}
    finally:
        for c in conns:
            await c.close()


async def _terminate(url: str, pids: set[int]) -> None:
    """Kill exactly these backends (ours), as a restart or a failover would."""
    admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            for pid in pids:
                await conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    finally:
        await admin.dispose()


async def test_postgres_checkout_sends_no_ping(
    pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(pg_database, pool_size=2)
    pings: list[object] = []
    real_ping = engine.dialect.do_ping

    def counting_ping(dbapi_connection: Any) -> bool:
        pings.append(dbapi_connection)
        return real_ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counting_ping)
    seen: list[str] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def record(_conn: Any, _cur: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    try:
        for _ in range(4):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 2"))
        assert seen == ["SELECT 2"] * 4
        assert pings == []  # pool_pre_ping would have pinged on each of the 3 re-checkouts
        assert engine.pool.checkedin() == 1  # one pooled connection, reused
    finally:
        await engine.dispose()


async def test_postgres_connections_killed_while_idle_are_replaced_at_checkout(
    pg_database: str,
) -> None:
    engine = make_engine(pg_database, pool_size=3)
    try:
        old = await _backend_pids(engine, 3)
        await _terminate(pg_database, old)
        await asyncio.sleep(0.2)  # the server closes the sockets; asyncpg notices
        pids = set()
        for _ in range(6):  # every pooled connection is dead: not one request may fail
            async with engine.connect() as conn:
                pids.add(int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()))
        assert pids and not pids & old
    finally:
        await engine.dispose()


async def test_postgres_connection_killed_mid_request_costs_one_failure(
    pg_database: str,
) -> None:
    engine = make_engine(pg_database, pool_size=3)
    try:
        await _backend_pids(engine, 3)
        async with engine.connect() as conn:
            pid = int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())
            # Every backend of the pool dies, this one while it is checked out.
            await _terminate(pg_database, {pid} | await _pool_pids(pg_database, engine))
            with pytest.raises(DBAPIError) as failed:  # the one failure
                await conn.execute(text("SELECT 1"))
            assert failed.value.connection_invalidated  # SQLAlchemy saw a disconnect
        for _ in range(6):  # and the requests after it are served
            async with engine.connect() as conn:
                assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await engine.dispose()


async def _pool_pids(url: str, engine: AsyncEngine) -> set[int]:
    """Backends of ``engine``'s database other than the caller's admin connection."""
    name = engine.url.database
    admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT pid FROM pg_stat_activity"
                    " WHERE datname = :d AND pid <> pg_backend_pid()"
                ),
                {"d": name},
            )
            return {int(pid) for (pid,) in rows}
    finally:
        await admin.dispose()


async def test_postgres_app_serves_on_after_its_connections_are_killed(
    pg_database: str, tmp_path: Path
) -> None:
    """The real app: every pooled connection is terminated; the exchanges that follow (a
    database write each) succeed, bar at most one that failed with a 500 a client may retry."""
    await truncate_pg(pg_database)
    app = create_app(make_settings(tmp_path, pg_database), FrozenClock())
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.lifespan(),
        httpx.AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        rt = app
        dev = await create_dev(rt)
        for _ in range(3):
            await exchange(client, dev)
        old = await _backend_pids(rt.infra.engine, 3)
        await _terminate(pg_database, old)
        await asyncio.sleep(0.2)
        statuses = []
        for _ in range(8):
            resp = await client.post("/api/v1/authorize/token", headers=dev.exchange_headers())
            statuses.append(resp.status_code)
        assert statuses.count(200) >= 7 and set(statuses) <= {200, 500}, statuses
        assert statuses[-4:] == [200] * 4
