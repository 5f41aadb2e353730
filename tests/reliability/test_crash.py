"""kill -9 during concurrent secret rotations: nothing acknowledged is lost, no extra secret lives.

A real ``fluide serve`` process (SQLite file, or PostgreSQL) is SIGKILLed at random moments
while workers rotate secrets, then restarted on the same port and database. Afterwards every
secret any client ever saw is probed with an exchange: exactly the current one is valid (and
the previous one while its grace window runs); every acknowledged rotation and exchange is in
the audit log and no rotation appears there that nobody asked for.

``FLUIDE_CRASH_KILLS`` (default 5) sets the number of kills for a longer run.
"""

from __future__ import annotations

import os
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fluide.runtime import Runtime
from tests.conftest import create_dev, make_settings
from tests.reliability.crash import RotationScenario, kill_loop, verify_after
from tests.reliability.report import COUNTS
from tests.reliability.server import KEK, PEPPER, ServerProcess, server_env

KILLS = int(os.environ.get("FLUIDE_CRASH_KILLS", "5"))


@pytest.fixture
async def side_runtime(tmp_path: Path, database_url: str) -> AsyncIterator[Runtime]:
    """The test's own handle on the server's database (same pepper): seeds and audit reads."""
    settings = make_settings(tmp_path / "side", database_url, pepper=PEPPER, key_encryption_key=KEK)
    rt = Runtime(settings)
    yield rt
    await rt.engine.dispose()


@pytest.mark.slow
async def test_kill9_during_rotations(
    tmp_path: Path, database_url: str, side_runtime: Runtime
) -> None:
    rng = random.Random(int(os.environ.get("FLUIDE_CRASH_SEED", "20261128")))
    server = ServerProcess(
        tmp_path / "server",
        server_env(
            tmp_path / "server",
            database_url,
            exchange_failure_limit="1000000/minute",
            exchange_failure_limit_long="1000000/hour",
        ),
    )
    server.data_dir.mkdir()
    server.start()
    try:
        devs = [await create_dev(side_runtime) for _ in range(3)]
        scenario = RotationScenario(devs, rng)
        report = await kill_loop([server], scenario, kills=KILLS, workers=6, rng=rng)
        counts = await verify_after([server], scenario, side_runtime)
    finally:
        server.stop()
    assert report.kills == KILLS
    assert counts["rotations_acked"] > 0
    COUNTS.update({f"crash_{k}": v for k, v in counts.items()})
    COUNTS["crash_kills"] += report.kills
