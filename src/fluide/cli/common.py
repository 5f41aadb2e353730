"""Shared CLI plumbing: settings from flags and env, running coroutines, JSON output."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console

from fluide.settings import Settings

T = TypeVar("T")
console = Console(stderr=True)


def settings_for(data_dir: Path | None) -> Settings:
    if data_dir is not None:
        os.environ["FLUIDE_DATA_DIR"] = str(data_dir)
    return Settings()


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))
