"""Counts the reliability suite gathers (attacks tried, kills, requests, audited failures).

Printed at the end of the run (tests/conftest.py) so a CI log states what was tried.
"""

from __future__ import annotations

from collections import Counter

COUNTS: Counter[str] = Counter()


def summary() -> str:
    return ", ".join(f"{name}={n}" for name, n in sorted(COUNTS.items()))
