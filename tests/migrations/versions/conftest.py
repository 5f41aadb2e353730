"""A database of its own for each migration test, SQLite and PostgreSQL: downgrading the
session's shared one would break the other tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import make_url

from fluide.settings import async_database_url
from tests.conftest import PG_URL, _pg_admin, pg_url_or_skip


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
        return
    pg = pg_url_or_skip()
    name = f"fluide_mig_{uuid.uuid4().hex[:10]}"
    _pg_admin(pg, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(async_database_url(pg)).set(database=name).render_as_string(False)
    finally:
        _pg_admin(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
