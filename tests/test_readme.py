"""The README's and docs/first-request.md's examples, pasted in order into one shell against a
live ``fluide serve`` on a fresh data dir, as a newcomer would on a fresh clone.

Blocks fenced ``sh`` are run; ``python`` blocks go to ``.venv/bin/python`` in the same shell;
``console`` blocks are the commands for another terminal (``make …``) and nothing else. Only the
address changes: the server listens on a free port instead of 8000.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from fluide.identity.hashing import SecretHasher
from fluide.settings import Settings
from tests.reliability.server import ServerProcess

ROOT = Path(__file__).parents[1]
DOCS = (ROOT / "README.md", ROOT / "docs" / "first-request.md")
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.M | re.S)
DEFAULT_BASE = "http://127.0.0.1:8000"


def blocks(path: Path) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(path.read_text())]


def script(base_url: str) -> str:
    parts = []
    for path in DOCS:
        for lang, body in blocks(path):
            if lang == "sh":
                parts.append(body)
            elif lang == "python":
                parts.append(f".venv/bin/python - <<'PY'\n{body}PY\n")
    return "\n".join(parts).replace(DEFAULT_BASE, base_url)


def test_the_docs_fence_their_examples_so_they_can_be_run() -> None:
    for path in DOCS:
        langs = {lang for lang, _ in blocks(path)}
        # ``javascript``: first-request.md's Node.js walkthrough, which
        # tests/apidocs/test_first_request.py runs with node.
        assert langs <= {"sh", "python", "console", "json", "javascript"}, (path, langs)
        assert "sh" in langs
        for lang, body in blocks(path):
            if lang == "console":  # another terminal's long-running commands, nothing to paste
                for line in body.splitlines():
                    assert line.startswith("make "), (path, line)
    assert DEFAULT_BASE in script(DEFAULT_BASE)


@pytest.mark.parametrize("path", [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])
def test_no_link_leaves_the_repository(path: Path) -> None:
    content = path.read_text()
    assert "shared/DESIGN" not in content and "DESIGN §" not in content, path
    for target in re.findall(r"\]\(([^)\s]+)\)", content):
        if target.startswith(("http://127.0.0.1", "http://localhost")):
            continue
        if path.name == "README.md":
            assert not target.startswith(("http:", "https:", "//")), target
        if target.startswith(("http:", "https:", "mailto:", "#")):
            continue
        resolved = (path.parent / target.split("#")[0]).resolve()
        assert resolved.is_relative_to(ROOT), (path, target)
        assert resolved.exists(), (path, target)


@pytest.fixture
def fresh_clone(tmp_path: Path) -> Iterator[tuple[Path, ServerProcess]]:
    """A folder like a fresh clone's root (``.venv`` linked), served as ``make serve`` would:
    no FLUIDE_ variable, data in ``./.fluide``."""
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLUIDE_")}
    env["HOME"] = str(tmp_path)  # the CLI's token cache
    data = tmp_path / ".fluide"
    data.mkdir()
    server = ServerProcess(data, env)
    server.start()
    try:
        yield tmp_path, server
    finally:
        server.stop()


@pytest.mark.slow
def test_the_examples_run_in_order_against_a_live_server(
    fresh_clone: tuple[Path, ServerProcess],
) -> None:
    clone, server = fresh_clone
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script(server.base_url)],
        cwd=clone,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"{done.stderr}\n---\n{done.stdout[-3000:]}"
    # curl prints bodies without a newline, the CLI pretty-prints, Python prints dicts.
    out = done.stdout.replace(" ", "").replace("'", '"')
    assert '"success":false' not in out, out
    assert out.count('"status":"ok"') >= 4  # hr health: curl, CLI, SDK, first-request's curl
    assert re.search(r"}204\n", out)  # the sign-out
    assert '"payoutCount":1' in out and '"SUCCEEDED"' in out
    assert '"balanced":true' in out
    assert (clone / ".fluide" / "payslip.pdf").read_bytes().startswith(b"%PDF-")
    _check_credentials(clone / ".fluide")


def _check_credentials(data: Path) -> None:
    """Private files, and step 6 left the *current* secret in the README's file."""
    settings = Settings(data_dir=data)
    hasher = SecretHasher(settings.pepper_bytes())
    engine = create_engine(f"sqlite:///{data / 'fluide.db'}")
    try:
        for name in ("creds.json", "first-request.json"):
            path = data / name
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
            creds = json.loads(path.read_text())
            with engine.connect() as conn:
                current, rotated = conn.execute(
                    text(
                        "SELECT secret_hash, secret_rotated_at FROM credentials WHERE api_key = :k"
                    ),
                    {"k": creds["apiKey"]},
                ).one()
            assert current == hasher.digest(creds["apiSecret"]), name
            assert (rotated is not None) == (name == "creds.json")
    finally:
        engine.dispose()
