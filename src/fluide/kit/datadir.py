"""The data directory is the owner's alone (DESIGN §4): 0700, and every file in it 0600.

It holds the SQLite database (with its ``-wal``/``-shm`` files), the outbox of mails carrying
one-time codes, and the generated pepper and key-encryption key: anyone who can read it can
forge nothing yet, but can read every code and, with the database, test secrets offline.

Everything the service creates there is created with an explicit owner-only mode (``mkdir``
and ``os.open`` modes; no process umask, which would change file creation in every thread of
the process). SQLite gives the ``-wal``, ``-shm`` and ``-journal`` files the mode of their
database file, so the database file is created 0600 before SQLite opens it
(``private_file``). A directory that already exists with looser modes (made by an older
version, or by hand) is tightened at start (``secure``), and what was tightened is logged once.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("fluide.datadir")

DIR_MODE = 0o700
FILE_MODE = 0o600
OUTBOX = "outbox"


def private_dir(path: Path) -> None:
    """``path`` (and missing parents) as a directory; one this creates is 0700."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)


def private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (never truncates). A missing
    directory is left for SQLite to report when it connects."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    except FileNotFoundError:
        return
    os.close(fd)


def secure(data_dir: Path) -> list[str]:
    """Create ``data_dir`` 0700, or take group and other bits off it, off the files directly in
    it and off the outbox and its files. Returns what was tightened (names relative to
    ``data_dir``), logged once here; an empty list when everything was already private.

    Only the directory's own level and the outbox are touched, not a whole tree: a data
    directory pointed at a shared place (``$HOME``) must not have every file below it changed.
    Symbolic links are left alone (chmod would follow them out of the directory).
    """
    private_dir(data_dir)
    tightened = _tighten(data_dir, data_dir)
    outbox = data_dir / OUTBOX
    if outbox.is_dir() and not outbox.is_symlink():
        tightened += _tighten(outbox, data_dir)
    if tightened:
        log.warning(
            "data directory permissions tightened to owner-only",
            extra={"data_dir": str(data_dir), "tightened": sorted(tightened)},
        )
    return tightened


def _tighten(directory: Path, root: Path) -> list[str]:
    """``directory`` itself and the regular files directly in it, group and other bits off."""
    done: list[str] = []
    if _owner_only(directory, os.stat(directory).st_mode):
        done.append(str(directory.relative_to(root)))
    with os.scandir(directory) as entries:
        for entry in entries:
            if not entry.is_file(follow_symlinks=False):
                continue
            if _owner_only(Path(entry.path), entry.stat(follow_symlinks=False).st_mode):
                done.append(str(Path(entry.path).relative_to(root)))
    return done


def _owner_only(path: Path, st_mode: int) -> bool:
    """Take group and other permission bits off ``path``; True when there were any."""
    mode = stat.S_IMODE(st_mode)
    if not mode & 0o077:
        return False
    os.chmod(path, mode & 0o700)
    return True
