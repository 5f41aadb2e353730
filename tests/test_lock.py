"""The lock files `make` installs from: complete, hashed, within pyproject's ranges, and the
serving one free of the dev tools."""

from __future__ import annotations

import json
import re
import tomllib
from importlib.metadata import PackageNotFoundError, distribution, version
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).parents[1]
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)(?:\s*;\s*([^\\]+?))?\s*\\?$")
DEV_TOOLS = ("pytest", "mypy", "ruff", "playwright", "schemathesis", "hypothesis", "pip-audit")
# Distributions of this repository: installed from their folder (`make`'s -e), never from an index,
# so no lock pins them; the locks hold their dependencies instead.
LOCAL = {"fluide-client": ROOT / "clients" / "python"}


def pins(name: str) -> dict[str, str]:
    """Package → version, for the pins whose markers hold on this interpreter."""
    found: dict[str, str] = {}
    lines = (ROOT / name).read_text().splitlines()
    for line in lines:
        match = PIN.match(line)
        if match is None:
            continue
        package, pinned, marker = match.groups()
        if marker is None or Marker(marker).evaluate():
            found[canonicalize_name(package)] = pinned
    assert found, name
    return found


def hashed(name: str) -> bool:
    """Every pin is followed by at least one ``--hash``."""
    blocks = re.split(r"\n(?=[A-Za-z0-9._-]+==)", (ROOT / name).read_text())
    return all("--hash=sha256:" in b for b in blocks if "==" in b.split("\n", 1)[0])


def project() -> dict[str, list[Requirement]]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras: dict[str, list[str]] = data["optional-dependencies"]

    def expand(lines: list[str]) -> list[Requirement]:
        """The requirements, with ``fluide[extra]`` (this project's own extras) spelled out."""
        out = []
        for line in lines:
            req = Requirement(line)
            if canonicalize_name(req.name) == "fluide":
                out.extend(expand([r for extra in sorted(req.extras) for r in extras[extra]]))
            else:
                out.append(req)
        return out

    return {
        "requirements.lock": expand(data["dependencies"]),
        "requirements-dev.lock": expand(data["dependencies"] + extras["dev"]),
    }


@pytest.mark.parametrize("lock", ["requirements.lock", "requirements-dev.lock"])
def test_the_lock_pins_every_direct_dependency_within_its_range(lock: str) -> None:
    pinned = pins(lock)
    assert hashed(lock)
    for req in project()[lock]:
        if req.marker is not None and not req.marker.evaluate():
            continue
        name = canonicalize_name(req.name)
        if name in LOCAL:
            assert name not in pinned, f"{lock} pins {name}, which is installed from the repository"
            continue
        assert name in pinned, f"{lock} does not pin {name}"
        assert req.specifier.contains(pinned[name], prereleases=True), (name, pinned[name])


def test_serving_installs_no_dev_tool_and_the_dev_lock_adds_to_it() -> None:
    serve, dev = pins("requirements.lock"), pins("requirements-dev.lock")
    assert [t for t in DEV_TOOLS if t in serve] == []
    assert all(t in dev for t in DEV_TOOLS)
    assert {k: v for k, v in dev.items() if k in serve} == serve  # the same versions


def test_this_environment_was_installed_from_the_lock() -> None:
    """What `make install` put here is what the lock says (a fresh resolution would drift)."""
    drift = {}
    for name, pinned in pins("requirements-dev.lock").items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            drift[name] = (pinned, None)
            continue
        if installed != pinned:
            drift[name] = (pinned, installed)
    assert drift == {}


def test_local_distributions_are_installed_from_this_repository() -> None:
    """The SDK the server depends on is the one in ./clients/python, at the version pyproject pins
    (an index's ``fluide-client``, or a stale copy, would otherwise stand in for it)."""
    required = {canonicalize_name(r.name): r for r in project()["requirements.lock"]}
    for name, folder in LOCAL.items():
        meta = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
        assert required[name].specifier.contains(meta["version"]), (name, meta["version"])
        installed = distribution(name)
        assert installed.version == meta["version"]
        origin = json.loads(installed.read_text("direct_url.json") or "{}")
        assert origin.get("dir_info", {}).get("editable") is True, origin
        assert Path(origin["url"].removeprefix("file://")).resolve() == folder.resolve()
