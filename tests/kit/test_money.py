"""kit.money: Decimal only, half-even to the minor unit, strings on the wire."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import BaseModel, ValidationError

from fluide.kit import money


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
