"""``fluide-client`` installs on its own (httpx and pydantic, nothing of the server), keeps the
import path ``fluide.client``, and calls a live server from a fresh virtualenv; the server's
distribution ships no file of it, so the two coexist and either can be removed.

The distribution is built from a copy of ``clients/python`` and ``src/fluide/client`` laid out as
in the repository, so the build writes nothing into the working tree.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.client.support import LiveServer
from tests.conftest import Dev

ROOT = Path(__file__).resolve().parents[2]
SERVER_ONLY = ("fastapi", "starlette", "sqlalchemy", "asyncpg", "uvicorn", "fpdf", "alembic")
IGNORE = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist")

CHECK_ALONE = f"""
import importlib.metadata, importlib.util, sys
import fluide.client
from fluide.client import FluideClient
from fluide.client.models import Employee
present = [m for m in {SERVER_ONLY!r} if importlib.util.find_spec(m) is not None]
present += [m for m in ("fluide.app", "fluide.identity", "fluide.kit")
            if importlib.util.find_spec(m) is not None]
dists = sorted(d.metadata["Name"].lower() for d in importlib.metadata.distributions())
print("present:", present)
print("dists:", dists)
print("version:", fluide.client.__version__, "namespace:", not hasattr(fluide, "__file__")
      or fluide.__file__ is None)
"""

CALL_LIVE = """
from decimal import Decimal
from fluide.client import FluideClient
with FluideClient() as fluide:
    print("health:", fluide.hr.health().status)
    made = fluide.hr.employees.create(
        employee_code="SOLO-1", first_name="Ada", last_name="Okafor", email="ada@example.com",
        salary=Decimal("100.00"), currency="NGN", hire_date="2026-02-01", country_code="NG")
    print("listed:", [e.id for e in fluide.hr.employees.list()] == [made.id], made.salary)
"""


def run(args: list[str | Path], **kw: object) -> str:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600, **kw)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return str(done.stdout)


def lay_out(tmp: Path) -> tuple[Path, Path]:
    """Copies of the two projects, in the repository's layout."""
    tree = tmp / "repo"
    shutil.copytree(ROOT / "clients" / "python", tree / "clients" / "python", ignore=IGNORE)
    shutil.copytree(ROOT / "src", tree / "src", ignore=IGNORE)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    return tree / "clients" / "python", tree


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite"])  # the install is the subject, not the database
def test_the_sdk_installs_alone_and_calls_a_live_server(
    live: LiveServer, live_dev: Dev, tmp_path: Path
) -> None:
    client_project, server_project = lay_out(tmp_path)
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", venv])
    python, pip = venv / "bin" / "python", venv / "bin" / "pip"
    # The real install: pip resolves httpx and pydantic itself (no --no-deps).
    run([pip, "install", "-q", client_project])

    alone = run([python, "-c", CHECK_ALONE], cwd=tmp_path)
    assert "present: []" in alone, alone
    dists = alone.split("dists: ", 1)[1].splitlines()[0]
    assert "'fluide-client'" in dists and "'fluide'" not in dists, dists
    assert "'httpx'" in dists and "'pydantic'" in dists
    assert "version: 0.1.0 namespace: True" in alone

    env = {
        "FLUIDE_BASE_URL": live.base_url,
        "FLUIDE_API_KEY": live_dev.api_key,
        "FLUIDE_API_SECRET": live_dev.api_secret,
    }
    called = run([python, "-c", CALL_LIVE], cwd=tmp_path, env=env)
    assert "health: ok" in called and "listed: True 100.00" in called, called

    # The server's wheel ships no file of the SDK and depends on it instead.
    wheels = tmp_path / "wheels"
    run([pip, "wheel", "-q", "--no-deps", "-w", wheels, server_project])
    (server_wheel,) = wheels.glob("fluide-*.whl")
    with zipfile.ZipFile(server_wheel) as wheel:
        names = wheel.namelist()
        metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
        requires = wheel.read(metadata).decode()
    assert "fluide/__init__.py" in names and "fluide/identity/formats.py" in names
    assert not [n for n in names if n.startswith("fluide/client/")]
    assert "Requires-Dist: fluide-client==0.1.0" in requires

    # Both installed: one regular package around the same client files; removing the server
    # leaves the SDK whole.
    run([pip, "install", "-q", "--no-deps", server_wheel])
    both = "import fluide, fluide.client; print(fluide.__version__, fluide.client.__version__)"
    assert run([python, "-c", both], cwd=tmp_path).split() == ["0.1.0", "0.1.0"]
    run([pip, "uninstall", "-q", "-y", "fluide"])
    again = run([python, "-c", CALL_LIVE.replace("SOLO-1", "SOLO-2")], cwd=tmp_path, env=env)
    assert "health: ok" in again
