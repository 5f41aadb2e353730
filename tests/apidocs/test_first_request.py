"""docs/first-request.md's Node.js walkthrough runs as written against a live ``fluide serve``:
one exchange, the token reused for the second call."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.apidocs.conftest import LiveServer

DOC = Path(__file__).resolve().parents[2] / "docs" / "first-request.md"
NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="node is not installed (apt-get install -y nodejs)")
def test_the_node_walkthrough_runs_as_written(live_server: LiveServer, tmp_path: Path) -> None:
    assert NODE is not None
    (source,) = re.findall(
        r"<!-- example: node -->\n```javascript\n(.*?)```", DOC.read_text(), re.S
    )
    script = tmp_path / "first-request.mjs"
    script.write_text(source)
    # Count exchanges: the walkthrough must reuse its token, so wrap fetch to see the calls.
    counting = tmp_path / "count.mjs"
    counting.write_text(
        "const real = globalThis.fetch;\n"
        "globalThis.fetch = (url, init) => {\n"
        '  console.log(`fetch ${init?.method ?? "GET"} ${new URL(url).pathname}`);\n'
        "  return real(url, init);\n"
        "};\n"
        "await import('./first-request.mjs');\n"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "FLUIDE_BASE_URL": live_server.base_url,
        "FLUIDE_API_KEY": live_server.api_key,
        "FLUIDE_API_SECRET": live_server.api_secret,
    }
    done = subprocess.run(
        [NODE, str(counting)], capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines == [
        "fetch POST /api/v1/authorize/token",
        "fetch GET /api/v1/hr/health",
        "ok",
        "fetch GET /api/v1/hr/employees",
        lines[4],
    ], done.stdout
    assert re.fullmatch(r"\d+ employees", lines[4])
    assert live_server.api_secret not in done.stdout + done.stderr
