"""``fluide``: the command line (DESIGN §6).

Importing this module costs typer and the commands' signatures only: each command imports what
it needs (SQLAlchemy, Alembic, FastAPI, uvicorn, httpx) when it runs, so ``fluide --help`` and
``fluide --version`` answer at once (tests/cli/test_main.py checks the import set).
Help is click's plain layout: typer's rich panels cost a third of a second and print every
flag as ``<bool>``, as if it took a value.
"""

from __future__ import annotations

from typing import Annotated

import typer

import fluide
from fluide.cli import admin, client_cmds, demo
from fluide.cli.serve import serve

app = typer.Typer(
    help="Fluide Connect: developer platform service and client.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        print(f"fluide {fluide.__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Fluide Connect: developer platform service and client."""


app.command("serve")(serve)
admin.register(app)
client_cmds.register(app)
app.command("demo")(demo.demo)
