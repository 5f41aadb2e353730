"""Migration 0005 (credential policies, hourly usage): up from 0004 with data in place, down
again, and up once more; at the head, its tables and columns as the models declare them. SQLite
and PostgreSQL (``empty_database``, conftest)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from fluide import migrations
from fluide.models_registry import metadata

BEFORE = "0004_idempotency_retention"
THIS = "0005_credential_policies"
NEW_COLUMNS = {"expires_at", "allowed_cidrs", "rate_limit", "expiry_audited_at"}


def _inspect(url: str, fn: Any) -> Any:
    async def go() -> Any:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(fn)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _columns(conn: Any) -> set[str]:
    return {c["name"] for c in inspect(conn).get_columns("credentials")}


def _tables(conn: Any) -> set[str]:
    return set(inspect(conn).get_table_names())


def _seed(conn: Any) -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    conn.execute(
        text("INSERT INTO tenants (id, name, created_at) VALUES ('ten_m', 't', :now)"),
        {"now": now},
    )
    conn.execute(
        text(
            "INSERT INTO accounts (id, email, tenant_id, created_at) "
            "VALUES ('acc_m', 'm@example.com', 'ten_m', :now)"
        ),
        {"now": now},
    )
    conn.execute(
        text(
            "INSERT INTO credentials (id, tenant_id, account_id, name, environment, api_key, "
            "scopes, status, secret_hash, generation, min_token_generation, created_at) VALUES "
            "('cred_m', 'ten_m', 'acc_m', 'k', 'sandbox', 'fl_dev_m', 'hr:read', 'active', "
            "'h', 1, 1, :now)"
        ),
        {"now": now},
    )
    conn.commit()


def _credential(conn: Any) -> Any:
    return conn.execute(text("SELECT * FROM credentials WHERE id = 'cred_m'")).mappings().one()


def _drift(conn: Any) -> list[Any]:
    diff = compare_metadata(MigrationContext.configure(conn), metadata)
    ours = []
    for entry in diff:
        flat = entry if isinstance(entry, tuple) else entry[0]
        if any(
            getattr(x, "name", None) in ("credentials", "usage_hourly")
            or getattr(getattr(x, "table", None), "name", None) in ("credentials", "usage_hourly")
            or x in ("credentials", "usage_hourly")
            for x in flat
        ):
            ours.append(entry)
    return ours


def test_upgrade_downgrade_upgrade_keeps_the_credentials(empty_database: str) -> None:
    url = empty_database
    assert migrations.upgrade(url, BEFORE)[-1] == BEFORE
    assert not NEW_COLUMNS & _inspect(url, _columns)

    async def seed() -> None:
        engine = create_async_engine(url)
        async with engine.connect() as conn:
            await conn.run_sync(_seed)
        await engine.dispose()

    asyncio.run(seed())
    assert migrations.upgrade(url, THIS) == [THIS]
    assert _inspect(url, _columns) >= NEW_COLUMNS
    assert "usage_hourly" in _inspect(url, _tables)
    row = _inspect(url, _credential)
    assert row["expires_at"] is None and row["allowed_cidrs"] is None
    assert row["rate_limit"] is None and row["scopes"] == "hr:read"

    command.downgrade(migrations.alembic_config(url), BEFORE)
    assert migrations.current(url) == BEFORE
    assert not NEW_COLUMNS & _inspect(url, _columns)
    assert "usage_hourly" not in _inspect(url, _tables)
    assert _inspect(url, _credential)["api_key"] == "fl_dev_m"

    assert migrations.upgrade(url, THIS) == [THIS]
    assert migrations.upgrade(url)[0] != THIS  # what follows applies on top
    assert migrations.current(url) == migrations.head()
    # Later migrations change these tables too (0007: usage_hourly's company): at the head, they
    # are as the models declare them.
    assert _inspect(url, _drift) == []
