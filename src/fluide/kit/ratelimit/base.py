"""What every rate-limit window shares: the limit notation, the key layout, the decision.

A limit is written ``"<amount>/[<multiples>]<unit>"`` ("600/minute", "10/5minutes"; "per" may
stand for "/"), units second, minute, hour, day, month (30 days), year (360 days): the notation
and the Redis key layout of the ``limits`` library, which earlier releases used, so processes
of the previous release share the counters during a rolling deploy (tests/kit/ratelimit checks
both against the library). The library itself is no longer a runtime dependency: its storages
have no room for what this package needs (the exchange's checks and hits in one script, the
shared windows' pipelined sync, falling back to memory), and only its parser was left.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

# Entries a window keeps in memory before expired ones are dropped (bounded memory under a key
# flood: e.g. well-formed fake keys on the exposure path).
PRUNE_AT = 50_000

_UNITS = {
    "second": 1,
    "minute": 60,
    "hour": 3_600,
    "day": 86_400,
    "month": 30 * 86_400,
    "year": 12 * 30 * 86_400,
}
_LIMIT = re.compile(
    r"^\s*([0-9]+)\s*(?:/|\s*per\s*)\s*([0-9]+)?\s*([a-z]+)\s*$", re.ASCII | re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class Limit:
    """``amount`` hits per ``period`` seconds (``multiples`` × one ``unit``)."""

    amount: int
    multiples: int
    unit: str
    period: int
    tail: str  # the key's last part: "<amount>/<multiples>/<unit>"


@lru_cache(maxsize=64)
def parse_limit(text: str) -> Limit:
    """Read one limit in the notation above; ``ValueError`` for anything else."""
    match = _LIMIT.match(text) if isinstance(text, str) else None
    word = match.group(3).lower() if match else ""
    unit = word[:-1] if word.endswith("s") and word[:-1] in _UNITS else word
    if match is None or unit not in _UNITS:
        raise ValueError(f"couldn't parse rate limit string {text!r}")
    # As the library reads it: no multiples, or 0, is one unit.
    amount, multiples = int(match.group(1)), int(match.group(2) or 1) or 1
    return Limit(amount, multiples, unit, multiples * _UNITS[unit], f"{amount}/{multiples}/{unit}")


def key_for(limit: Limit, ids: tuple[str, ...]) -> str:
    """The storage key of ``limit`` counted under ``ids`` (the ``limits`` layout)."""
    return f"LIMITER/{'/'.join(ids)}/{limit.tail}"


def window_start(now: float, period: int) -> int:
    """The start of the clock-aligned fixed window holding ``now``: every process agrees on it,
    so a window's end is known without asking the storage."""
    return int(now) // period * period


# A check, or a hit: a limit in the notation above and the ids it is counted under.
LimitIds = tuple[str, tuple[str, ...]]


class Decision(NamedTuple):
    """One hit's verdict. A named tuple: immutable like a frozen dataclass, and made in a
    fraction of its time (every guarded request makes one)."""

    allowed: bool
    limit: int
    remaining: int
    reset_at: float

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.reset_at - time.time()))

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(0, self.remaining)),
            "X-RateLimit-Reset": str(math.ceil(self.reset_at)),
        }


def counted(limit: Limit, count: int, start: int) -> Decision:
    """The decision on a fixed window that holds ``count`` hits, this one included."""
    return Decision(count <= limit.amount, limit.amount, limit.amount - count, start + limit.period)
