"""What went wrong, in one line, with the fix: the failures an operator can cause and repair.

Only imported once something failed, so it may import pydantic and SQLAlchemy freely. Never
echoes a setting's value (it may be a secret) or a database password.
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fluide.settings import Settings

DATABASE_FIX = "check FLUIDE_DATABASE_URL (or unset it to use SQLite in the data dir)"
SUPPORTED = ("sqlite+aiosqlite", "postgresql+asyncpg")


def database_label(settings: Settings) -> str:
    """Where the database is, for a message: the SQLite path, or the URL without its password."""
    from sqlalchemy import make_url

    url = make_url(settings.resolved_database_url)
    if url.drivername.startswith("sqlite"):
        return f"SQLite at {url.database}"
    return url.render_as_string(hide_password=True)


def check_database_url(settings: Settings) -> None:
    """Refuse a database URL we cannot use before anything tries to connect to it."""
    from sqlalchemy import make_url
    from sqlalchemy.exc import ArgumentError

    from fluide.cli.failure import CliError

    try:
        driver = make_url(settings.resolved_database_url).drivername
    except (ArgumentError, ValueError) as exc:
        raise CliError(
            "FLUIDE_DATABASE_URL is not a database URL: expected "
            "postgresql://USER:PASSWORD@HOST:5432/DATABASE or sqlite:///PATH; " + DATABASE_FIX
        ) from exc
    if driver not in SUPPORTED:
        raise CliError(
            f"FLUIDE_DATABASE_URL names a database Fluide does not support ({driver}): "
            "use postgresql://… or sqlite:///…; " + DATABASE_FIX
        )


def explain(exc: BaseException) -> str | None:
    """The one-line message for a failure the user can fix; None for anything else (a bug:
    the traceback is then the useful answer)."""
    from fluide.kit.errors import AppError

    if isinstance(exc, AppError):
        return app_error_message(exc.code, exc.message, exc.errors)
    from fluide.client import FluideError
    from fluide.client import ValidationError as ApiValidationError

    if isinstance(exc, FluideError):  # an API answer (``fluide demo`` talks to the server)
        fields = exc.errors if isinstance(exc, ApiValidationError) else None
        return app_error_message(exc.code, exc.message, fields)
    return _database_message(exc)


def app_error_message(code: str, message: str, errors: dict[str, list[str]] | None) -> str:
    """``CODE: message``, then each field's messages on a line of its own."""
    lines = [f"{code}: {message}"]
    for field, messages in (errors or {}).items():
        lines.append(f"  {field}: {'; '.join(messages)}")
    return "\n".join(lines)


def _database_message(exc: BaseException) -> str | None:
    from sqlalchemy import exc as sa

    where = _configured_database()
    if isinstance(exc, (ConnectionError, socket.gaierror, TimeoutError)):
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        return f"cannot connect to the database {where}({reason}): is it running? {DATABASE_FIX}"
    if isinstance(exc, sa.DBAPIError):
        reason = str(exc.orig).splitlines()[0] if exc.orig is not None else type(exc).__name__
        if "no such table" in reason or ("relation" in reason and "does not exist" in reason):
            return f"the database {where}has no schema: run `fluide db upgrade`"
        if not where:  # SQLite in the data dir
            return (
                f"cannot open the SQLite database in the data dir ({reason}): check --data-dir "
                "/ FLUIDE_DATA_DIR points at a directory you may write"
            )
        return f"the database {where}refused: {reason}; {DATABASE_FIX}"
    if isinstance(exc, OSError) and exc.filename:
        return (
            f"{exc.strerror or type(exc).__name__}: {exc.filename}; "
            "check --data-dir / FLUIDE_DATA_DIR points at a directory you may write"
        )
    return None


def _configured_database() -> str:
    """``at <url without password> `` from the environment, or nothing when unset or odd."""
    raw = os.environ.get("FLUIDE_DATABASE_URL")
    if not raw:
        return ""
    from sqlalchemy import make_url

    try:
        return f"at {make_url(raw).render_as_string(hide_password=True)} "
    except Exception:
        return ""
