"""Money as ``Decimal`` with its ISO 4217 currency: parse, round half-even, format. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import Field, Strict
from sqlalchemy import Numeric, String
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator, TypeEngine

# Amounts travel as JSON strings only: a JSON number is refused (Strict + str), so no float
# ever touches an amount. Up to 4 decimals are accepted and rounded to the currency's minor unit.
# A money column holds less than STORAGE_LIMIT (NUMERIC(18, 4) on PostgreSQL; ten-thousandths in
# a 64-bit integer on SQLite): one amount on the wire has at most 12 integer digits, so totals of
# many still fit, and a stored aggregate that could pass the limit (a wallet balance, a payroll
# run's totals) is checked with ``storable`` before it is written. ``DecimalAmount`` refuses to
# bind anything else (``AmountNotStorable``, a 400: kit.errors), so a check that was forgotten
# is still a client error, never a 500 nor a value the other backend could not hold. Sums over
# rows are not stored and need no limit: ``money_sum`` adds them exactly on both backends.
STORAGE_LIMIT = Decimal(10) ** 14
AMOUNT_PATTERN = r"^-?[0-9]{1,12}(\.[0-9]{1,4})?$"
_TEN_THOUSANDTH = Decimal("0.0001")
RATE_PATTERN = r"^[0-9]{1,3}(\.[0-9]{1,8})?$"

AmountStr = Annotated[
    str,
    Strict(),
    Field(pattern=AMOUNT_PATTERN, max_length=18, examples=["1234.50"]),
]
PositiveAmountStr = Annotated[
    str,
    Strict(),
    Field(pattern=r"^[0-9]{1,12}(\.[0-9]{1,4})?$", max_length=17, examples=["1234.50"]),
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


class AmountNotStorable(MoneyError):
    """An amount at or past ``STORAGE_LIMIT`` on its way into a money column."""

    def __init__(self) -> None:
        super().__init__(f"amounts and totals must stay below {STORAGE_LIMIT:f}")


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


# SQLSTATE numeric_value_out_of_range: PostgreSQL's "numeric field overflow" and its kin.
_OUT_OF_RANGE = "22003"


def is_overflow(exc: BaseException) -> bool:
    """True for a database error that says a number did not fit its column: our own refusal
    (``AmountNotStorable``, wrapped by SQLAlchemy) or the database's (SQLSTATE 22003)."""
    orig = getattr(exc, "orig", None)
    if isinstance(orig, AmountNotStorable):
        return True
    return isinstance(exc, DBAPIError) and getattr(orig, "sqlstate", None) == _OUT_OF_RANGE


def storable(amount: Decimal) -> bool:
    """True when a money column can hold ``amount`` (see ``STORAGE_LIMIT``)."""
    return abs(amount) < STORAGE_LIMIT


def _column_value(amount: Decimal) -> Decimal:
    """``amount`` as a money column stores it (4 decimals, half-even), or ``AmountNotStorable``.

    Rounded first: PostgreSQL rounds 99999999999999.99995 up to 10^14 and then overflows.
    """
    try:
        value = Decimal(amount).quantize(_TEN_THOUSANDTH, rounding=ROUND_HALF_EVEN)
    except InvalidOperation:  # not finite, or more digits than the context holds
        raise AmountNotStorable from None
    if not storable(value):
        raise AmountNotStorable
    return value


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
        value = _column_value(value)
        if dialect.name == "sqlite":
            return int(value.scaleb(self.SCALE))
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            exact = Decimal(value) if isinstance(value, int) else Decimal(str(value))
            return exact.scaleb(-self.SCALE)
        return Decimal(value)


# SQLite's SUM over integers raises "integer overflow" past 2^63 (about 9.2 × 10^14 in
# ten-thousandths: ten 200-line journal entries of maximal amounts). ``money_sum`` splits each
# stored integer at 10^9 and sums the two halves separately; neither half-sum can overflow
# before some 9 × 10^9 rows, and Python joins them exactly. PostgreSQL's SUM over NUMERIC is
# exact and unbounded already. Integer division and ``%`` truncate toward zero in SQLite, so
# ``x = (x / B) * B + x % B`` for negative amounts too.
_SPLIT = 10**9


class _SummedAmount(TypeDecorator[Decimal]):
    """The result type of ``money_sum``: ``"high:low"`` text on SQLite, NUMERIC elsewhere."""

    impl = Numeric(38, 4)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String())
        return dialect.type_descriptor(Numeric(38, 4))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        raise TypeError("money_sum is a result, not a parameter")

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            high, low = str(value).split(":")
            return Decimal(int(high) * _SPLIT + int(low)).scaleb(-DecimalAmount.SCALE)
        return Decimal(value)


class money_sum(FunctionElement[Decimal]):  # lower case, like the SQL functions it stands for
    """``SUM`` of a ``DecimalAmount`` column that is exact and cannot overflow, on both backends
    (NULL over no rows, like ``SUM``)."""

    type = _SummedAmount()
    name = "money_sum"
    inherit_cache = True


@compiles(money_sum)
def _sum_numeric(element: money_sum, compiler: SQLCompiler, **kw: Any) -> str:
    return f"SUM({compiler.process(element.clauses, **kw)})"


@compiles(money_sum, "sqlite")
def _sum_split(element: money_sum, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"(SUM({column} / {_SPLIT}) || ':' || SUM({column} % {_SPLIT}))"
