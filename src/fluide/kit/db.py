"""Engine, metadata and the one-transaction-per-request session."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, MetaData, event, exc, make_url
from sqlalchemy.engine import Engine, ExceptionContext
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

from fluide.kit import datadir
from fluide.kit.clock import as_utc
from fluide.kit.faults import fault_of
from fluide.kit.sqlite_inline import inline_creator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# Execution option that marks a connection as read-only (see ``read_only``).
READ_ONLY = "fluide_read_only"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on both backends (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else as_utc(value)


def make_engine(
    url: str, pool_size: int = 10, connect_timeout: float = 5.0, statement_timeout: float = 30.0
) -> AsyncEngine:
    if url.startswith("sqlite"):
        path = make_url(url).database or ":memory:"
        if path != ":memory:":
            # Before SQLite creates it: its -wal and -shm files copy the database file's mode.
            datadir.private_file(Path(path))
        # One inline connection per process (kit.sqlite_inline): requests queue on the pool,
        # an asyncio wait, and SQLite writes one at a time anyway.
        engine = create_async_engine(
            url,
            # A lock held elsewhere is waited for at most ``connect_timeout`` (then a 503).
            async_creator=inline_creator(path, connect_timeout),
            poolclass=NullPool if path == ":memory:" else None,
            pool_size=1,
            max_overflow=0,
            pool_timeout=30,
        )
        _sqlite_pragmas(engine.sync_engine)
        return engine
    # No pool_pre_ping: it costs a round trip (SELECT 1) on every checkout, i.e. every request
    # that touches the database. Instead: connections are recycled after 30 min (idle-killing
    # firewalls, server-side timeouts); a connection the server closed (restart,
    # pg_terminate_backend, failover) is noticed by asyncpg as soon as the socket closes and is
    # replaced at checkout without a round trip (``_drop_closed``); and a connection that dies
    # mid-statement raises a disconnect error, on which SQLAlchemy invalidates the whole pool, so
    # one request fails (a 503, kit.faults; a read is run again at once) instead of one per
    # pooled connection. Every wait is bounded: opening a connection and waiting for a pooled
    # one by ``connect_timeout``, a statement by ``statement_timeout`` (a database that stopped
    # answering is a 503, not a hung request).
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size * 2,
        pool_pre_ping=False,
        pool_recycle=1800,
        pool_timeout=connect_timeout,
        connect_args={"timeout": connect_timeout, "command_timeout": statement_timeout},
    )
    event.listen(engine.sync_engine.pool, "checkout", _drop_closed)
    event.listen(engine.sync_engine, "handle_error", _lost_is_disconnect)
    return engine


def _lost_is_disconnect(ctx: ExceptionContext) -> None:
    """A connection that went away under a statement ("closed in the middle of operation")
    is a disconnect even where the dialect does not say so: SQLAlchemy then invalidates the
    whole pool, so a read run again (kit.faults.SafeRetry) gets a fresh connection rather than
    another one the same restart killed."""
    if not ctx.is_disconnect:
        fault = fault_of(ctx.original_exception)
        if fault is not None and fault.connection_lost:
            ctx.is_disconnect = True


def _drop_closed(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
    """A pooled connection whose socket the server already closed: the pool takes another one
    (SQLAlchemy retries the checkout on ``DisconnectionError``). A local flag, no round trip."""
    driver = getattr(dbapi_conn, "driver_connection", None)
    is_closed = getattr(driver, "is_closed", None)
    if is_closed is not None and is_closed():
        raise exc.DisconnectionError("connection closed by the server")


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        # The connection is opened with isolation_level=None (kit.sqlite_inline) so we issue
        # BEGIN ourselves and writers take the write lock up front: SQLite cannot upgrade a
        # read snapshot to a write once another writer committed.
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        # No busy_timeout: kit.sqlite_inline waits for locks without blocking the loop.
        cur.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Any) -> None:
        # A connection marked read-only (``read_only(engine)``) starts a deferred transaction:
        # in WAL mode its reads neither wait for the write lock nor hold writers back.
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def read_only(engine: AsyncEngine) -> AsyncEngine:
    """The same engine and pool, for reads only: on SQLite its transactions skip the write lock.

    Use it for health checks and polling; never for a transaction that may write.
    """
    return engine.execution_options(**{READ_ONLY: True})


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
