"""Alembic migrations, shipped inside the package so ``fluide db upgrade`` works anywhere."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, make_url
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from fluide.kit import datadir

HERE = Path(__file__).parent
SQLITE_ASYNC = "sqlite+aiosqlite:"
T = TypeVar("T")


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", str(HERE / "versions"))
    cfg.attributes["database_url"] = url
    return cfg


def _private_sqlite_file(url: str) -> None:
    """An SQLite database file is created owner-only before SQLite creates it (its journal
    files copy its mode); any other database is left alone."""
    database = make_url(url).database
    if url.startswith("sqlite") and database and database != ":memory:":
        datadir.private_file(Path(database))


def _outside_the_loop(fn: Callable[[], T]) -> T:
    """Run ``fn`` here, or in a thread when an event loop runs here (Alembic's env.py and
    ``current`` start loops of their own)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn()
    results: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(fn())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return results[0]


def head() -> str:
    """The newest revision this release ships."""
    found = ScriptDirectory.from_config(alembic_config("")).get_current_head()
    assert found is not None
    return found


def current(url: str) -> str | None:
    """The database's revision; None when it has no schema yet.

    Connecting to an SQLite file that does not exist creates it: check first where that matters.
    """

    def read(conn: Connection) -> str | None:
        return MigrationContext.configure(conn).get_current_revision()

    if url.startswith(SQLITE_ASYNC):
        _private_sqlite_file(url)  # connecting creates a missing file: then 0600
        # The standard library's driver: aiosqlite's worker thread outlives a failed connect
        # (an unusable path) and keeps the process from exiting.
        engine = create_engine("sqlite:" + url[len(SQLITE_ASYNC) :], poolclass=NullPool)
        try:
            with engine.connect() as conn:
                return read(conn)
        finally:
            engine.dispose()

    async def go() -> str | None:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(read)
        finally:
            await engine.dispose()

    return _outside_the_loop(lambda: asyncio.run(go()))


def pending(url: str) -> list[str]:
    """The revisions ``upgrade`` would apply, oldest first."""
    return _between(current(url), head())


def _between(lower: str | None, upper: str) -> list[str]:
    script = ScriptDirectory.from_config(alembic_config(""))
    revisions = script.iterate_revisions(upper, lower or "base")
    return [r.revision for r in reversed(list(revisions)) if r.revision != lower]


def upgrade(url: str, revision: str = "head") -> list[str]:
    """Apply migrations; return the revisions applied, oldest first (empty when none were due).

    Safe to call from inside a running event loop (runs in a thread).
    """
    _private_sqlite_file(url)
    before = current(url)
    _outside_the_loop(lambda: command.upgrade(alembic_config(url), revision))
    after = current(url)
    if after is None or after == before:
        return []
    return _between(before, after)
