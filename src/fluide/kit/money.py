"""Money as ``Decimal`` with its ISO 4217 currency: parse, round half-even, format. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import Field, Strict
from sqlalchemy import Numeric
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

# Amounts travel as JSON strings only: a JSON number is refused (Strict + str), so no float
# ever touches an amount. Up to 4 decimals are accepted and rounded to the currency's minor unit.
AMOUNT_PATTERN = r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$"
RATE_PATTERN = r"^[0-9]{1,3}(\.[0-9]{1,8})?$"

AmountStr = Annotated[
    str,
    Strict(),
    Field(pattern=AMOUNT_PATTERN, max_length=21, examples=["1234.50"]),
]
PositiveAmountStr = Annotated[
    str,
    Strict(),
    Field(pattern=r"^[0-9]{1,15}(\.[0-9]{1,4})?$", max_length=20, examples=["1234.50"]),
]
RateStr = Annotated[str, Strict(), Field(pattern=RATE_PATTERN, max_length=13, examples=["0.075"])]
CurrencyStr = Annotated[str, Strict(), Field(pattern=r"^[A-Z]{3}$", examples=["NGN"])]


@dataclass(frozen=True, slots=True)
class Currency:
    code: str
    name: str
    minor_units: int


# A deliberately small table: the currencies the shipped statutory rules and the sandbox use.
CURRENCIES: dict[str, Currency] = {
    c.code: c
    for c in (
        Currency("USD", "US Dollar", 2),
        Currency("EUR", "Euro", 2),
        Currency("GBP", "Pound Sterling", 2),
        Currency("NGN", "Naira", 2),
        Currency("KES", "Kenyan Shilling", 2),
        Currency("GHS", "Ghana Cedi", 2),
        Currency("ZAR", "Rand", 2),
        Currency("XOF", "CFA Franc BCEAO", 0),
        Currency("JPY", "Yen", 0),
        Currency("BHD", "Bahraini Dinar", 3),
    )
}


class MoneyError(ValueError):
    """An amount or currency that cannot be used."""


def currency(code: str) -> Currency:
    try:
        return CURRENCIES[code]
    except KeyError:
        raise MoneyError(f"unsupported currency {code!r}") from None


def is_currency(code: str) -> bool:
    return code in CURRENCIES


def quantum(code: str) -> Decimal:
    return Decimal(1).scaleb(-currency(code).minor_units)


def round_money(amount: Decimal, code: str) -> Decimal:
    """Round half-even to the currency's minor unit."""
    return amount.quantize(quantum(code), rounding=ROUND_HALF_EVEN)


def parse(text: str, code: str) -> Decimal:
    """A decimal string → a rounded ``Decimal`` in ``code``. Floats are refused."""
    if not isinstance(text, str):
        raise MoneyError("amount must be a decimal string")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise MoneyError("amount is not a decimal number") from None
    if not value.is_finite():
        raise MoneyError("amount is not finite")
    return round_money(value, code)


def fmt(amount: Decimal, code: str) -> str:
    """The wire form: a plain string with exactly the currency's minor digits."""
    return f"{round_money(amount, code):f}"


def add(a: str, b: str, code: str) -> str:
    return fmt(parse(a, code) + parse(b, code), code)


def total(amounts: list[Decimal], code: str) -> Decimal:
    return round_money(sum(amounts, Decimal(0)), code)


class _ScaledIntegerNumeric(Numeric[Decimal]):
    """NUMERIC DDL (so the schema is the same on both backends) without SQLAlchemy's float
    conversion on SQLite: the integers ``DecimalAmount`` binds pass through untouched."""

    def bind_processor(self, dialect: Dialect) -> None:
        return None

    def result_processor(self, dialect: Dialect, coltype: object) -> None:
        return None


class DecimalAmount(TypeDecorator[Decimal]):
    """A money column: ``NUMERIC(18, 4)`` on PostgreSQL; on SQLite an exact scaled integer.

    SQLite has no decimal type: a NUMERIC column holds IEEE floats, so ``0.7 + 0.2`` stored
    there reads back as ``0.8999…`` and ``balance >= 0.9`` is false. On SQLite we therefore bind
    ten-thousandths as integers (stored as INTEGER in the NUMERIC column), which keeps
    ``balance + x``, comparisons and ``SUM`` exact in SQL; values are ``Decimal`` in Python.
    """

    impl = Numeric(18, 4)
    cache_ok = True
    SCALE = 4

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(_ScaledIntegerNumeric(18, 4))
        return dialect.type_descriptor(Numeric(18, 4))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = Decimal(value)
        if dialect.name == "sqlite":
            return int(value.scaleb(self.SCALE).to_integral_value(rounding=ROUND_HALF_EVEN))
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            exact = Decimal(value) if isinstance(value, int) else Decimal(str(value))
            return exact.scaleb(-self.SCALE)
        return Decimal(value)
