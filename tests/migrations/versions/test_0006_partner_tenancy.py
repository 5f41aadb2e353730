"""Migration 0006 (partner tenancy) up and down, on SQLite and PostgreSQL: existing tenants
become BUSINESS, the tables match the models, and the downgrade leaves 0004's schema."""

from __future__ import annotations

import asyncio

from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from fluide.migrations import alembic_config, current, upgrade

REV, PREVIOUS = "0006_partner_tenancy", "0005_credential_policies"


def _inspect(url: str) -> tuple[set[str], set[str], dict[str, str]]:
    """Tables, the tenants' columns, and each tenant's kind."""

    async def go() -> tuple[set[str], set[str], dict[str, str]]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:

                def look(sync_conn: Connection) -> tuple[set[str], set[str]]:
                    insp = inspect(sync_conn)
                    names = {c["name"] for c in insp.get_columns("tenants")}
                    return set(insp.get_table_names()), names

                tables, cols = await conn.run_sync(look)
                kinds: dict[str, str] = {}
                if "kind" in cols:
                    rows = await conn.execute(text("SELECT id, kind FROM tenants"))
                    kinds = {r[0]: r[1] for r in rows}
                return tables, cols, kinds
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _insert_tenant(url: str) -> None:
    async def go() -> None:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    text(
                        "INSERT INTO tenants (id, name, created_at) "
                        "VALUES ('ten_old', 'old', CURRENT_TIMESTAMP)"
                    )
                )
        finally:
            await engine.dispose()

    asyncio.run(go())


def test_upgrade_and_downgrade(empty_database: str) -> None:
    url = empty_database
    upgrade(url, PREVIOUS)
    _insert_tenant(url)  # a tenant from before partners existed
    assert upgrade(url, REV) == [REV]
    tables, cols, kinds = _inspect(url)
    assert {"partner_workspaces", "partner_companies"} <= tables
    assert "kind" in cols and kinds == {"ten_old": "BUSINESS"}
    command.downgrade(alembic_config(url), PREVIOUS)
    assert current(url) == PREVIOUS
    tables, cols, _ = _inspect(url)
    assert not {"partner_workspaces", "partner_companies"} & tables
    assert "kind" not in cols
    upgrade(url)  # and up again to head
    assert current(url) is not None
