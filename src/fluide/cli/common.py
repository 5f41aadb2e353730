"""Shared CLI plumbing: settings from flags and env, running coroutines, JSON output."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from fluide.settings import Settings

T = TypeVar("T")
console = Console(stderr=True)


def settings_for(data_dir: Path | None) -> Settings:
    if data_dir is not None:
        os.environ["FLUIDE_DATA_DIR"] = str(data_dir)
    try:
        return Settings()
    except ValidationError as exc:
        # One line per bad variable instead of a traceback (values are not echoed: some are
        # secrets).
        for error in exc.errors(include_url=False, include_input=False):
            name = "FLUIDE_" + "_".join(str(part) for part in error["loc"]).upper()
            reason = error.get("ctx", {}).get("error") or error["msg"]
            console.print(f"[red]Invalid setting[/red] {name}: {reason}", highlight=False)
        raise typer.Exit(2) from None


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))
