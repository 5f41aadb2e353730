"""The examples of docs/sdk.md run as written, against a live server, each in a fresh process
with only the three environment variables a reader would set."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.client.support import LiveServer
from tests.conftest import create_dev

SDK_DOC = Path(__file__).resolve().parents[2] / "docs" / "sdk.md"
EXAMPLE = re.compile(r"<!-- example: (\w+) -->\n```python\n(.*?)```", re.S)


def examples() -> dict[str, str]:
    found = dict(EXAMPLE.findall(SDK_DOC.read_text()))
    assert set(found) == {"sync", "async"}, "docs/sdk.md lost a marked example"
    return found


@pytest.mark.parametrize("backend", ["sqlite"])  # the guide is the subject, not the database
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("sync", ["EMP-001 Adaeze Okafor", "1 payouts, ", "bytes of PDF", "NOT_FOUND"]),
        ("async", ["ok ok", "1000 ", '1 ["Owner\'s capital injection"]', "balanced: True"]),
    ],
)
def test_an_example_of_the_guide_runs_as_written(
    name: str, expected: list[str], live: LiveServer, tmp_path: Path
) -> None:
    dev = live.run(create_dev(live.runtime))
    script = tmp_path / f"{name}.py"
    script.write_text(examples()[name])
    env = {
        "PATH": os.environ.get("PATH", ""),
        "FLUIDE_BASE_URL": live.base_url,
        "FLUIDE_API_KEY": dev.api_key,
        "FLUIDE_API_SECRET": dev.api_secret,
    }
    done = subprocess.run(
        [sys.executable, str(script)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    for text in expected:
        assert text in done.stdout, (text, done.stdout)
    assert dev.api_secret not in done.stdout + done.stderr
