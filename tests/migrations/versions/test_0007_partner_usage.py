"""Migration 0007 (usage per acting company) up and down, on SQLite and PostgreSQL: the counts
stored before it become the partner's own (company ""), the key takes the company in, and the
downgrade adds each company's counts back into one row per old key, losing none."""

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

THIS, BEFORE = "0007_partner_usage", "0006_partner_tenancy"
HOUR = datetime(2026, 12, 7, 14, tzinfo=UTC)
OLD = (
    "INSERT INTO usage_hourly (tenant_id, credential_id, hour, kind, code, count) "
    "VALUES ('ten_p', :cred, :hour, 'request', '', :count)"
)
NEW = (
    "INSERT INTO usage_hourly (tenant_id, credential_id, hour, kind, code, count, company_id) "
    "VALUES ('ten_p', :cred, :hour, 'request', '', :count, :company)"
)


def _run(url: str, fn: Any, *, write: bool = False) -> Any:
    async def go() -> Any:
        engine = create_async_engine(url)
        try:
            async with engine.begin() if write else engine.connect() as conn:
                return await conn.run_sync(fn)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _insert(conn: Any, rows: list[tuple[str, str, int]], company: bool) -> None:
    """Rows of ``(credential, company, count)``, all in one hour and kind."""
    for credential, company_id, count in rows:
        conn.execute(
            text(NEW if company else OLD),
            {"cred": credential, "hour": HOUR, "count": count, "company": company_id},
        )


def _counts(conn: Any) -> dict[tuple[str, ...], int]:
    cols = {c["name"] for c in inspect(conn).get_columns("usage_hourly")}
    if "company_id" in cols:
        rows = conn.execute(text("SELECT credential_id, company_id, count FROM usage_hourly"))
    else:
        rows = conn.execute(text("SELECT credential_id, count FROM usage_hourly"))
    return {tuple(r[:-1]): r[-1] for r in rows}


def _key(conn: Any) -> list[str]:
    found: list[str] = inspect(conn).get_pk_constraint("usage_hourly")["constrained_columns"]
    return found


def _drift(conn: Any) -> list[Any]:
    diff = compare_metadata(MigrationContext.configure(conn), metadata)
    return [d for d in diff if "usage_hourly" in repr(d)]


def test_upgrade_and_downgrade_keep_every_count(empty_database: str) -> None:
    url = empty_database
    migrations.upgrade(url, BEFORE)
    _run(url, lambda c: _insert(c, [("cred_a", "", 5), ("cred_b", "", 2)], False), write=True)

    assert migrations.upgrade(url, THIS) == [THIS]
    assert _run(url, _counts) == {("cred_a", ""): 5, ("cred_b", ""): 2}  # the partner's own
    assert _run(url, _key) == ["tenant_id", "credential_id", "hour", "kind", "code", "company_id"]
    assert _run(url, _drift) == []
    # Two companies' counts and the partner's own, in the same hour, credential, kind and code.
    _run(
        url,
        lambda c: _insert(c, [("cred_a", "cmp_1", 3), ("cred_a", "cmp_2", 4)], True),
        write=True,
    )
    assert _run(url, _counts)[("cred_a", "cmp_2")] == 4

    command.downgrade(migrations.alembic_config(url), BEFORE)
    assert migrations.current(url) == BEFORE
    assert _run(url, _key) == ["tenant_id", "credential_id", "hour", "kind", "code"]
    assert _run(url, _counts) == {("cred_a",): 12, ("cred_b",): 2}
    assert "usage_hourly_down" not in _run(url, lambda c: inspect(c).get_table_names())

    assert migrations.upgrade(url, THIS) == [THIS]
    assert _run(url, _counts) == {("cred_a", ""): 12, ("cred_b", ""): 2}
    migrations.upgrade(url)
    assert migrations.current(url) == migrations.head()
