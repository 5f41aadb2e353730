"""pip-audit over the installed environment: no dependency with a known vulnerability.

The PyPI vulnerability source is the only one this machine and CI can reach. When it cannot
say anything about any installed package (the per-version data is missing or unreachable),
the test is skipped with the reason: a green "no known vulnerabilities" that audited nothing
would be a test that cannot fail.

The same check by hand, or in .ci/run:
``.venv/bin/pip-audit -s pypi --skip-editable --progress-spinner off``
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reliability.report import COUNTS


def _pip_audit() -> str | None:
    found = Path(sys.executable).with_name("pip-audit")
    return str(found) if found.exists() else shutil.which("pip-audit")


@pytest.mark.slow
def test_no_known_vulnerabilities(tmp_path: Path) -> None:
    tool = _pip_audit()
    if tool is None:
        pytest.skip("pip-audit is not installed (it is in the dev extra)")
    out = tmp_path / "audit.json"
    proc = subprocess.run(
        [
            tool,
            "--vulnerability-service",
            "pypi",
            "--skip-editable",
            "--progress-spinner",
            "off",
            "--format",
            "json",
            "--output",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if not out.exists():
        pytest.skip(f"pip-audit could not run against PyPI: {proc.stderr.strip()[-300:]}")
    deps = json.loads(out.read_text())["dependencies"]
    audited = [d for d in deps if "skip_reason" not in d]
    if not audited:
        pytest.skip(
            f"the PyPI vulnerability source answered for none of the {len(deps)} installed "
            "packages (per-version data unreachable from here); nothing was audited"
        )
    vulnerable = {
        f"{d['name']} {d['version']}": [v["id"] for v in d["vulns"]] for d in audited if d["vulns"]
    }
    COUNTS["dependencies_audited"] += len(audited)
    assert not vulnerable, vulnerable
    assert proc.returncode == 0, proc.stderr[-500:]
