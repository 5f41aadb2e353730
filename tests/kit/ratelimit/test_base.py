"""The limit notation and key layout: the ``limits`` library's, read without it."""

from __future__ import annotations

import limits
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fluide.kit.ratelimit import key_for, parse_limit


@pytest.mark.parametrize("limit", ["600/minute", "10/second", "5/15 minutes", "1000/day"])
def test_key_for_is_the_limits_library_key(limit: str) -> None:
    # The counters stay shared with processes that build keys through ``limits``.
    item, theirs = parse_limit(limit), limits.parse(limit)
    for ids in (("xkey", "fl_dev_abc"), ("xfail", "fl_dev_abc", "127.0.0.1"), ("pkey",)):
        assert key_for(item, ids) == theirs.key_for(*ids)


_UNIT = st.sampled_from(["second", "minute", "hour", "day", "month", "year"])
_NOTATION = st.builds(
    lambda amount, sep, multiples, unit, plural, upper, pad: "".join(
        (pad, str(amount), sep, multiples, unit.upper() if upper else unit, "s" * plural, pad)
    ),
    st.integers(0, 10**6),
    st.sampled_from(["/", " per ", "per", " / "]),
    st.sampled_from(["", "0", "1", "5", "15 ", "60"]),
    _UNIT,
    st.booleans(),
    st.booleans(),
    st.sampled_from(["", " "]),
)


def _same(text: str) -> None:
    ours, theirs = parse_limit(text), limits.parse(text)
    assert (ours.amount, ours.multiples, ours.unit) == (
        theirs.amount,
        theirs.multiples,
        theirs.GRANULARITY.name,
    )
    assert ours.period == theirs.get_expiry()
    assert key_for(ours, ("a", "b")) == theirs.key_for("a", "b")


@given(_NOTATION)
def test_a_limit_reads_as_the_limits_library_reads_it(text: str) -> None:
    _same(text)


@given(st.text(alphabet="0123456789/ perminutesohdayS;,|-x\x00é", max_size=24))
def test_what_the_notation_accepts_the_library_reads_the_same(text: str) -> None:
    """Anything at all: ours either refuses it or reads it exactly as the library does (never
    a different limit, never a crash)."""
    try:
        parse_limit(text)
    except ValueError:
        return
    _same(text)


@pytest.mark.parametrize(
    "text", ["", "10", "/minute", "10/fortnight", "1/second;5/minute", "-1/day"]
)
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="rate limit"):
        parse_limit(text)
