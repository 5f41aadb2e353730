"""Hosts starting together on an empty PostgreSQL database create the first signing keys once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from fluide.app import create_app
from fluide.identity import keyring
from fluide.identity.models import SigningKeyRow
from fluide.migrations import upgrade
from fluide.settings import async_database_url
from tests.conftest import _pg_admin, make_settings, pg_url_or_skip, unreachable

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
def empty_pg_database() -> Iterator[str]:
    """A migrated database with no signing key yet (the shared test database already has some)."""
    pg_url = pg_url_or_skip()
    name = f"fluide_keys_{uuid.uuid4().hex[:10]}"
    try:
        _pg_admin(pg_url, f'CREATE DATABASE "{name}"')
    except Exception as exc:
        unreachable("FLUIDE_TEST_DATABASE_URL", exc)
    try:
        url = (
            make_url(async_database_url(pg_url))
            .set(database=name)
            .render_as_string(hide_password=False)
        )
        upgrade(url)
        yield url
    finally:
        _pg_admin(pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_concurrent_first_starts_create_one_active_and_one_next_key(
    empty_pg_database: str, tmp_path: Path
) -> None:
    runtimes = [
        create_app(make_settings(tmp_path / f"host{i}", empty_pg_database)) for i in range(4)
    ]
    try:
        await asyncio.gather(
            *(
                keyring.ensure_signing_keys(
                    rt.infra.sessionmaker,
                    rt.infra.settings.signing_alg,
                    rt.identity.encryptor,
                    rt.infra.clock,
                )
                for rt in runtimes
            )
        )
        async with runtimes[0].infra.sessionmaker() as session:
            rows = await session.execute(
                select(SigningKeyRow.state, func.count()).group_by(SigningKeyRow.state)
            )
            counts = {state: n for state, n in rows}
    finally:
        for rt in runtimes:
            await rt.infra.engine.dispose()
    assert counts == {"active": 1, "next": 1}
