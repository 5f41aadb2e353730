"""The serving process tunes the garbage collector once started; other apps leave it alone."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

from fluide.app import create_app
from fluide.kit.gc_tuning import SERVING_THRESHOLDS
from fluide.settings import Settings

# Run in a child process: a frozen heap cannot be thawed for the rest of a test session.
_SERVE = """
import asyncio, gc, json
from fluide.app import app_from_env

async def main():
    app = app_from_env()
    before = (gc.get_freeze_count(), gc.get_threshold())
    async with app.lifespan():
        during = (gc.get_freeze_count(), gc.get_threshold())
    print(json.dumps({"before": before, "during": during}))

asyncio.run(main())
"""


def test_the_served_app_freezes_its_startup_heap(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "FLUIDE_DATA_DIR": str(tmp_path),
        "FLUIDE_PEPPER": "test-pepper-" + "x" * 32,
        "FLUIDE_KEY_ENCRYPTION_KEY": "test-kek-" + "y" * 32,
        "FLUIDE_LOG_LEVEL": "WARNING",
    }
    subprocess.run(
        [sys.executable, "-m", "fluide", "db", "upgrade"], env=env, check=True, capture_output=True
    )
    out = subprocess.run(
        [sys.executable, "-c", _SERVE], env=env, check=True, capture_output=True, text=True
    )
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["before"][0] == 0
    assert seen["before"][1] != list(SERVING_THRESHOLDS)
    frozen, thresholds = seen["during"]
    assert frozen > 10_000  # the loaded app: modules, routes, schemas
    assert thresholds == list(SERVING_THRESHOLDS)


async def test_an_app_built_for_tests_leaves_the_collector_alone(settings: Settings) -> None:
    app = create_app(settings)
    before = (gc.get_freeze_count(), gc.get_threshold())
    async with app.lifespan():
        assert (gc.get_freeze_count(), gc.get_threshold()) == before
