"""Shared CLI plumbing: options, output, and one-line errors that say what to do.

Imported by every command module at ``fluide --help`` time, so it imports nothing heavy: no
settings (pydantic), no SQLAlchemy, no HTTP client. Commands import those when they run.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console

from fluide.cli.failure import CliError as CliError  # the commands import it from here

if TYPE_CHECKING:
    from rich.table import Table

    from fluide.settings import Settings

T = TypeVar("T")
P = ParamSpec("P")
console = Console(stderr=True, highlight=False, soft_wrap=True)  # messages, warnings, errors
DEFAULT_DATA_DIR = Path(".fluide")

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Data directory: the server's SQLite file, pepper and keys (default ./.fluide, "
        "or FLUIDE_DATA_DIR). Use the same one as the running server.",
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def fail(message: str, exit_code: int = 1) -> NoReturn:
    from rich.markup import escape

    # The message may quote input (an address, a path): escaped, so a '[' in it is printed.
    console.print(f"[bold red]error[/bold red]: {escape(message)}", markup=True, soft_wrap=True)
    raise typer.Exit(exit_code)


def warn(message: str) -> None:
    console.print(f"[yellow]warning[/yellow]: {message}", soft_wrap=True)


def settings_for(data_dir: Path | None) -> Settings:
    """Settings from the environment, ``--data-dir`` winning over ``FLUIDE_DATA_DIR``."""
    if data_dir is not None:
        os.environ["FLUIDE_DATA_DIR"] = str(data_dir)
    from pydantic import ValidationError

    from fluide.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        # One line per bad variable instead of a traceback (values are not echoed: some are
        # secrets).
        for error in exc.errors(include_url=False, include_input=False):
            name = "FLUIDE_" + "_".join(str(part) for part in error["loc"]).upper()
            reason = error.get("ctx", {}).get("error") or error["msg"]
            console.print(f"[red]Invalid setting[/red] {name}: {reason}", highlight=False)
        raise typer.Exit(2) from None


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def print_table(table: Table) -> None:
    """On stdout, never cutting a cell: as wide as the table needs, even past the terminal's
    width (a kid or a timestamp with ``…`` in it is useless to copy)."""
    from rich.measure import Measurement

    out = Console(highlight=False)
    needed = Measurement.get(out, out.options.update(max_width=100_000), table).maximum
    if needed > out.width:
        out = Console(highlight=False, width=needed)
    out.print(table, soft_wrap=False)


def friendly(fn: Callable[P, T]) -> Callable[P, T]:
    """Turn the failures a user can fix (database URL, database unreachable, an
    ``AppError`` with its field errors) into one line with the fix instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except CliError as exc:
            fail(exc.message, exc.exit_code)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            from fluide.cli.errors import explain

            message = explain(exc)
            if message is None:
                raise
            fail(message)

    return wrapper


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600 (created so; tightened if it already existed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(data)


def stdout_bytes(data: bytes) -> None:
    """Bytes to stdout untouched (no decoding, no newline added)."""
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
