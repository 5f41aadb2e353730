"""SQLite transactions: writers take the write lock up front; read-only connections do not;
a wait for another connection's lock never blocks the event loop."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from sqlalchemy import text

from fluide.kit.db import READ_ONLY, make_engine, read_only


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
