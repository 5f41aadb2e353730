"""SQLite transactions: writers take the write lock up front; read-only connections do not."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from fluide.kit.db import READ_ONLY, make_engine, read_only


async def test_read_only_connections_do_not_wait_for_a_writer(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (v INTEGER)"))
            await conn.execute(text("INSERT INTO t VALUES (1)"))
        async with engine.connect() as writer:
            await writer.execute(text("INSERT INTO t VALUES (2)"))  # holds the write lock
            async with read_only(engine).connect() as reader:
                # Without the option this BEGIN IMMEDIATE would wait for the writer (30 s).
                rows = await asyncio.wait_for(reader.execute(text("SELECT v FROM t")), 5)
                assert [v for (v,) in rows] == [1]  # the committed snapshot
                assert reader.sync_connection is not None
                assert reader.sync_connection.get_execution_options()[READ_ONLY] is True
            await writer.commit()
    finally:
        await engine.dispose()


async def test_ordinary_connections_take_the_write_lock_at_begin(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        async with engine.connect() as first:
            await first.execute(text("SELECT 1"))  # a read, but BEGIN IMMEDIATE was issued
            second = await engine.connect()
            try:
                # busy_timeout is 30 s: a second writer is still queued after half a second.
                attempt = asyncio.ensure_future(second.execute(text("SELECT 1")))
                done, _ = await asyncio.wait({attempt}, timeout=0.5)
                assert not done
                await first.rollback()
                await asyncio.wait_for(attempt, 10)  # and proceeds once the first one ends
            finally:
                await second.close()
    finally:
        await engine.dispose()
