"""Background loops that stop between units of work, never inside a transaction."""

from __future__ import annotations

import asyncio
import contextlib


async def stop_gracefully(
    task: asyncio.Task[None], stopping: asyncio.Event, grace: float = 10.0
) -> None:
    """Set ``stopping`` and let ``task`` finish its current unit of work (a few short
    transactions); cancel it only if it has not ended within ``grace`` seconds."""
    stopping.set()
    try:
        await asyncio.wait_for(asyncio.shield(task), grace)
    except Exception:  # timed out (or failed): cancel it
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
