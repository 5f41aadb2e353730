"""Identifiers: time-ordered, prefixed, URL-safe."""

from __future__ import annotations

import os
import time


def new_id(prefix: str) -> str:
    """``prefix_`` + 48-bit millisecond time + 80 random bits, hex (sortable by creation)."""
    ms = int(time.time() * 1000) & ((1 << 48) - 1)
    return f"{prefix}_{ms:012x}{os.urandom(10).hex()}"
