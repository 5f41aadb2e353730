"""Issue 23 on SQLite: a database file locked by another process is a bounded 503 with
Retry-After (never a 500, never a hang), the guard's hot path keeps serving, and the service
is back as soon as the lock is released.

The lock is taken the way another process takes it: a second connection to the same file
(``sqlite3``, outside the app) holding ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from fluide.app import App, create_app
from fluide.kit import faults
from tests.conftest import create_dev, make_settings
from tests.products.helpers import employee, headers_for
from tests.reliability.report import COUNTS

HR = "/api/v1/hr/employees"
LOCK_WAIT = 0.5


@pytest.fixture
def db_file(tmp_path: Path, sqlite_template: Path) -> Path:
    path = tmp_path / "fluide.db"
    shutil.copy(sqlite_template, path)
    return path


@pytest.fixture
async def rt(tmp_path: Path, db_file: Path) -> AsyncIterator[App]:
    settings = make_settings(
        tmp_path, f"sqlite+aiosqlite:///{db_file}", db_connect_timeout_seconds=LOCK_WAIT
    )
    app = create_app(settings)
    async with app.lifespan():
        yield app


@pytest.fixture
async def http(rt: App) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=rt, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def other_process(db_file: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(db_file, timeout=0, isolation_level=None)
    yield conn
    conn.close()


async def test_a_locked_database_file_is_a_bounded_503(
    rt: App, http: httpx.AsyncClient, other_process: sqlite3.Connection
) -> None:
    dev = await create_dev(rt)
    headers = await headers_for(http, dev)
    assert (await http.post(HR, headers=headers, json=employee("L1"))).status_code == 201

    other_process.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    for method, path, kw in (
        ("POST", HR, {"json": employee("L2"), "headers": headers}),
        ("GET", HR, {"headers": headers}),
        ("POST", "/api/v1/authorize/token", {"headers": dev.exchange_headers()}),
    ):
        started = time.monotonic()
        resp = await http.request(method, path, **kw)
        assert time.monotonic() - started < LOCK_WAIT + 2.0, "waited past the bound"
        assert resp.status_code == 503, (path, resp.status_code, resp.text[:200])
        assert resp.headers["retry-after"] == str(faults.RETRY_AFTER_SECONDS)
        assert resp.json()["code"] == "SERVICE_UNAVAILABLE"
        COUNTS["fault_sqlite_503s"] += 1
    # What needs no database still answers (the guard from memory).
    assert (await http.get("/api/v1/utils/countries", headers=headers)).status_code == 200

    other_process.execute("ROLLBACK")
    assert (await http.post(HR, headers=headers, json=employee("L3"))).status_code == 201
    listed = (await http.get(HR, headers=headers)).json()
    assert sorted(e["employeeCode"] for e in listed["items"]) == ["L1", "L3"]


def test_a_read_only_database_is_an_outage_not_a_bug(db_file: Path) -> None:
    """The error a read-only file gives (opened read-only here: as root, file modes do not
    stop a writer) is classified as an outage; a missing table is still a bug."""
    conn = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, isolation_level=None)
    try:
        with pytest.raises(sqlite3.OperationalError) as readonly:
            conn.execute("DELETE FROM tenants")
        with pytest.raises(sqlite3.OperationalError) as missing:
            conn.execute("SELECT * FROM no_such_table")
    finally:
        conn.close()
    assert faults.fault_of(readonly.value) == faults.Fault(faults.DATABASE, connection_lost=False)
    assert faults.fault_of(missing.value) is None
