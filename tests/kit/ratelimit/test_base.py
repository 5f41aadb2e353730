"""The limit notation and key layout: the ``limits`` library's, read without it."""

from __future__ import annotations

import limits
import pytest

from fluide.kit.ratelimit import key_for, parse_limit


@pytest.mark.parametrize("limit", ["600/minute", "10/second", "5/15 minutes", "1000/day"])
def test_key_for_is_the_limits_library_key(limit: str) -> None:
    # The counters stay shared with processes that build keys through ``limits``.
    item, theirs = parse_limit(limit), limits.parse(limit)
    for ids in (("xkey", "fl_dev_abc"), ("xfail", "fl_dev_abc", "127.0.0.1"), ("pkey",)):
        assert key_for(item, ids) == theirs.key_for(*ids)
