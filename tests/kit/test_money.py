"""kit.money: Decimal only, half-even to the minor unit, strings on the wire."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from sqlalchemy import Column, Integer, MetaData, Table, insert, select, text
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncConnection

from fluide.kit import money
from fluide.kit.db import make_engine


def test_point_one_plus_point_two_is_point_three() -> None:
    assert money.add("0.10", "0.20", "USD") == "0.30"
    assert money.add("0.1", "0.2", "NGN") == "0.30"


@pytest.mark.parametrize(
    ("text", "code", "expected"),
    [
        ("2.675", "USD", "2.68"),  # exact decimal: half-even keeps 2.675 → 2.68 (7 is odd)
        ("2.665", "USD", "2.66"),  # tie to even
        ("0.125", "EUR", "0.12"),
        ("0.135", "EUR", "0.14"),
        ("-1.005", "USD", "-1.00"),
        ("2.5", "JPY", "2"),
        ("3.5", "JPY", "4"),
        ("1.0005", "BHD", "1.000"),
        ("1.0015", "BHD", "1.002"),
        ("1000", "NGN", "1000.00"),
    ],
)
def test_round_half_even_to_minor_unit(text: str, code: str, expected: str) -> None:
    assert money.fmt(money.parse(text, code), code) == expected


def test_minor_units_per_currency() -> None:
    assert money.currency("JPY").minor_units == 0
    assert money.currency("BHD").minor_units == 3
    assert money.quantum("USD") == Decimal("0.01")
    with pytest.raises(money.MoneyError):
        money.currency("XXX")


@pytest.mark.parametrize("bad", ["abc", "NaN", "Infinity", ""])
def test_parse_refuses_non_numbers(bad: str) -> None:
    with pytest.raises(money.MoneyError):
        money.parse(bad, "USD")


def test_parse_refuses_a_float() -> None:
    with pytest.raises(money.MoneyError):
        money.parse(0.1, "USD")  # type: ignore[arg-type]


def test_total_has_no_float_drift() -> None:
    assert money.total([Decimal("0.10")] * 10, "USD") == Decimal("1.00")


class _Body(BaseModel):
    amount: money.PositiveAmountStr


@pytest.mark.parametrize("value", [0.1, 10, "1e3", "1.23456", "-1", " 1"])
def test_amount_type_refuses_numbers_and_odd_strings(value: object) -> None:
    with pytest.raises(ValidationError):
        _Body.model_validate({"amount": value})


def test_amount_type_accepts_decimal_strings() -> None:
    assert _Body.model_validate({"amount": "1234.5000"}).amount == "1234.5000"


@pytest.mark.parametrize("value", ["1000000000000", "999999999999999", "1000000000000.5"])
def test_amount_type_refuses_more_than_twelve_integer_digits(value: str) -> None:
    # The money columns hold less than 10^14; one amount stays far below so sums fit too.
    with pytest.raises(ValidationError):
        _Body.model_validate({"amount": value})


def test_storable_matches_the_column_limit() -> None:
    assert money.storable(Decimal("99999999999999.9999"))
    assert not money.storable(Decimal(10) ** 14)
    assert not money.storable(-(Decimal(10) ** 14))


def test_storable_is_checked_after_rounding_to_the_column_scale() -> None:
    # PostgreSQL rounds to 4 decimals first: this one would become 10^14 and overflow.
    with pytest.raises(money.AmountNotStorable):
        money.DecimalAmount().process_bind_param(Decimal("99999999999999.99995"), _Dialect())
    with pytest.raises(money.AmountNotStorable):
        money.DecimalAmount().process_bind_param(Decimal("1e30"), _Dialect())


class _Dialect:
    name = "postgresql"


# ---- money columns on a real database (SQLite, and PostgreSQL when configured) ----------

_LARGEST = money.STORAGE_LIMIT - Decimal("0.0001")
_scratch = Table(
    "money_scratch",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("amount", money.DecimalAmount()),
    prefixes=["TEMPORARY"],
)


@pytest.fixture
async def scratch(database_url: str) -> AsyncIterator[AsyncConnection]:
    """One connection with a temporary money table (dropped with the connection)."""
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_scratch.create)
            await conn.commit()
            yield conn
    finally:
        await engine.dispose()


async def _sum(conn: AsyncConnection) -> Decimal | None:
    return await conn.scalar(select(money.money_sum(_scratch.c.amount)))


async def test_money_sum_adds_past_a_64_bit_integer_exactly(scratch: AsyncConnection) -> None:
    assert await _sum(scratch) is None  # no rows: NULL, like SUM
    # 10^4 maximal amounts: 10^18 in currency units, 10^22 ten-thousandths, far past 2^63.
    await scratch.execute(insert(_scratch), [{"amount": _LARGEST}] * 10_000)
    assert await _sum(scratch) == _LARGEST * 10_000
    await scratch.execute(insert(_scratch), [{"amount": -_LARGEST}] * 10_001)
    assert await _sum(scratch) == -_LARGEST
    await scratch.rollback()


_amount = st.one_of(
    st.decimals(min_value=-_LARGEST, max_value=_LARGEST, places=4),
    st.sampled_from([_LARGEST, -_LARGEST, Decimal("0.0001"), Decimal("-0.0001"), Decimal(0)]),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(groups=st.lists(st.tuples(_amount, st.integers(1, 300)), max_size=12))
async def test_money_sum_equals_the_exact_sum(
    scratch: AsyncConnection, groups: list[tuple[Decimal, int]]
) -> None:
    rows = [{"amount": amount} for amount, count in groups for _ in range(count)]
    if rows:
        await scratch.execute(insert(_scratch), rows)
    expected = sum((amount * count for amount, count in groups), Decimal(0)) if rows else None
    assert await _sum(scratch) == expected
    await scratch.rollback()


async def test_a_value_the_column_cannot_hold_is_refused_before_the_database(
    scratch: AsyncConnection,
) -> None:
    await scratch.execute(insert(_scratch), [{"amount": _LARGEST}, {"amount": -_LARGEST}])
    for value in (money.STORAGE_LIMIT, -money.STORAGE_LIMIT, Decimal("1e20")):
        with pytest.raises(StatementError) as caught:
            await scratch.execute(insert(_scratch), [{"amount": value}])
        assert money.is_overflow(caught.value)
        await scratch.rollback()
    rows = await scratch.scalars(select(_scratch.c.amount))
    assert list(rows) == []  # the rollback took the fitting rows too: nothing half-written


async def test_the_databases_own_overflow_is_recognised(scratch: AsyncConnection) -> None:
    """PostgreSQL's "numeric field overflow" (SQLSTATE 22003) is an overflow; other database
    errors are not."""
    if scratch.dialect.name == "postgresql":
        await scratch.execute(insert(_scratch), [{"id": 1, "amount": _LARGEST}])
        with pytest.raises(StatementError) as caught:
            await scratch.execute(text("UPDATE money_scratch SET amount = amount + 1"))
        assert money.is_overflow(caught.value)
        await scratch.rollback()
    with pytest.raises(StatementError) as other:
        await scratch.execute(text("SELECT * FROM no_such_table"))
    assert not money.is_overflow(other.value)
    await scratch.rollback()
