"""``fluide`` itself: the version, and a ``--help`` that imports nothing heavy.

The import set is the measure, not a stopwatch: Alembic, FastAPI, SQLAlchemy, uvicorn and httpx
cost about two seconds on this machine, and a command's help never needs them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version

import pytest
from typer.testing import CliRunner

import fluide
from fluide.cli.main import app

runner = CliRunner()
HEAVY = (
    "alembic",
    "fastapi",
    "sqlalchemy",
    "starlette",
    "uvicorn",
    "httpx",
    "pydantic_settings",  # (typer itself imports pydantic to convert some option types)
    "redis",
    "asyncpg",
    "aiosqlite",
    "jwt",
    "cryptography",
    "fluide.app",
    "fluide.kit.infra",
    "fluide.settings",
    "fluide.client",
    "fluide.cli.operations",
)
PROBE = """
import json, sys
from fluide.cli.main import app
try:
    app(sys.argv[1:], prog_name="fluide")
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def _imported(*args: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=60
    )
    modules: list[str] = json.loads(done.stderr.strip().splitlines()[-1])
    return set(modules)


@pytest.mark.parametrize(
    "args",
    [
        ("--help",),
        ("--version",),
        ("accounts", "--help"),
        ("accounts", "create", "--help"),
        ("credentials", "revoke", "--help"),
        ("serve", "--help"),
        ("call", "--help"),
        ("demo", "--help"),
    ],
)
def test_help_and_version_import_nothing_heavy(args: tuple[str, ...]) -> None:
    modules = _imported(*args)
    assert "fluide.cli.main" in modules  # the probe did load the CLI
    loaded = [m for m in HEAVY if m in modules]
    assert loaded == [], f"`fluide {' '.join(args)}` imported {loaded}"


def test_the_probe_sees_heavy_imports_when_a_command_runs() -> None:
    """The measure can fail: a command that touches the database does import them."""
    modules = _imported("db", "current", "--data-dir", "/nonexistent/fluide-probe")
    assert {"sqlalchemy", "fluide.settings"} <= modules


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"fluide {fluide.__version__}"
    assert fluide.__version__ == version("fluide")  # the package's own metadata agrees


def test_every_command_is_listed() -> None:
    out = runner.invoke(app, ["--help"]).stdout
    for name in ("serve", "db", "accounts", "credentials", "keys", "token", "call", "demo"):
        assert f"  {name} " in out
