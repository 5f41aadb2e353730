"""The data directory is 0700 and every file the service keeps in it 0600 (DESIGN §4)."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from fluide.app import create_app
from fluide.cli.operations import prepare
from fluide.kit import datadir
from fluide.kit.db import make_engine
from fluide.migrations import upgrade
from fluide.settings import Settings


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def loose(path: Path, content: bytes = b"x", perms: int = 0o644) -> Path:
    path.write_bytes(content)
    path.chmod(perms)
    return path


def test_a_new_data_directory_is_created_owner_only(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / ".fluide"
    assert datadir.secure(target) == []
    assert mode(target) == 0o700


def test_a_loose_directory_is_tightened_and_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    loose(data / "pepper")
    loose(data / "fluide.db-wal", perms=0o664)
    loose(data / "script.sh", perms=0o755)
    private = loose(data / "already-private", perms=0o600)
    (data / "outbox").mkdir()
    (data / "outbox").chmod(0o777)
    loose(data / "outbox" / "mail_1.eml", perms=0o666)
    (data / "backups").mkdir()
    nested = loose(data / "backups" / "old.db")  # below the service's level: not ours to change
    outside = loose(tmp_path / "elsewhere.txt")
    (data / "link").symlink_to(outside)

    with caplog.at_level(logging.INFO, logger="fluide.datadir"):
        tightened = datadir.secure(data)
    assert sorted(tightened) == [
        ".",
        "fluide.db-wal",
        "outbox",
        "outbox/mail_1.eml",
        "pepper",
        "script.sh",
    ]
    assert mode(data) == 0o700
    assert mode(data / "outbox") == 0o700
    for path in (data / "pepper", data / "fluide.db-wal", data / "outbox" / "mail_1.eml"):
        assert mode(path) == 0o600
    assert mode(data / "script.sh") == 0o700  # group and other bits off; the owner's kept
    assert mode(private) == 0o600
    assert mode(nested) == 0o644
    assert mode(outside) == 0o644  # a symbolic link is not followed out of the directory
    (record,) = caplog.records
    assert record.tightened == sorted(tightened)  # type: ignore[attr-defined]

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="fluide.datadir"):
        assert datadir.secure(data) == []
    assert caplog.records == []


def test_private_file_creates_0600_and_never_truncates(tmp_path: Path) -> None:
    path = tmp_path / "fluide.db"
    datadir.private_file(path)
    assert mode(path) == 0o600
    path.write_bytes(b"SQLite format 3\x00")
    datadir.private_file(path)
    assert path.read_bytes() == b"SQLite format 3\x00"
    datadir.private_file(tmp_path / "no" / "such" / "dir.db")  # left for SQLite to report


async def test_every_file_of_a_running_service_is_private(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A real start on SQLite (``fluide serve``'s ``prepare``, then the app's lifespan) over a data
    directory left loose by an earlier version; then the database is written (WAL) and a mail
    goes to the outbox. Everything in it is owner-only while the service runs."""
    data = tmp_path / ".fluide"
    data.mkdir()
    data.chmod(0o755)
    loose(data / "pepper", b"an-old-pepper-" + b"p" * 40)
    settings = Settings(data_dir=data, database_url=None, log_json=True)
    caplog.set_level(logging.INFO, logger="fluide.datadir")
    prepare(settings, warn_if_new=False)  # what `fluide serve` runs before the app
    app = create_app(settings)
    async with app.lifespan():
        # Said once, at the first step; nothing the service made since needed tightening.
        assert [r.tightened for r in caplog.records] == [[".", "pepper"]]  # type: ignore[attr-defined]
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            resp = await client.post(
                "/api/v1/auth/signup",
                json={"email": "files@example.com", "password": "correct horse battery"},
            )
            assert resp.status_code == 202, resp.text
        names = sorted(p.name for p in data.iterdir())
        assert {"fluide.db", "fluide.db-wal", "fluide.db-shm", "key-encryption-key"} <= set(names)
        assert "pepper" in names and "outbox" in names
        assert mode(data) == 0o700
        assert mode(data / "outbox") == 0o700
        files = [p for p in data.iterdir() if p.is_file()] + list((data / "outbox").iterdir())
        assert any(p.suffix == ".eml" for p in files)
        assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}


async def test_sqlite_files_are_created_owner_only(tmp_path: Path) -> None:
    """Without any tightening pass: the migrations and the engine create the database 0600,
    and SQLite gives its -wal and -shm files the database file's mode."""
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o755)
    url = f"sqlite+aiosqlite:///{folder / 'fluide.db'}"
    upgrade(url)
    assert mode(folder / "fluide.db") == 0o600
    (folder / "fluide.db").unlink()
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (v INTEGER)"))
            await conn.execute(text("INSERT INTO t VALUES (1)"))
        async with engine.connect() as conn:
            await conn.execute(text("SELECT v FROM t"))
            names = {p.name: mode(p) for p in folder.iterdir()}
    finally:
        await engine.dispose()
    assert names == {"fluide.db": 0o600, "fluide.db-wal": 0o600, "fluide.db-shm": 0o600}
