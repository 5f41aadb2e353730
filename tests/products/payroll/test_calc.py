"""Payroll calculation: rounded components that always add up."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from fluide.products.payroll import rules
from fluide.products.payroll.calc import monthly_payslip

NG = rules.rules_for(rules.DEFAULT_RULES, "NG", date(2026, 11, 1))
GB = rules.rules_for(rules.DEFAULT_RULES, "GB", date(2026, 11, 1))
assert NG is not None and GB is not None


def test_nigeria_example_by_hand() -> None:
    fig = monthly_payslip(Decimal("3600000.00"), "NGN", NG)
    assert fig.gross == Decimal("300000.00")
    assert fig.pension == Decimal("24000.00")  # 8% of gross
    # taxable = 3,600,000 - 288,000 pension = 3,312,000: 560,000 + 112,000 × 24% = 586,880/yr
    assert fig.income_tax == Decimal("48906.67")
    assert fig.net == Decimal("227093.33")


def test_uk_example_by_hand() -> None:
    fig = monthly_payslip(Decimal("30000"), "GBP", GB)
    assert fig.gross == Decimal("2500.00")
    assert fig.pension == Decimal("125.00")
    # taxable 28,500 → (28,500 - 12,570) × 20% = 3,186/yr → 265.50/month
    assert fig.income_tax == Decimal("265.50")
    assert fig.net == Decimal("2109.50")


def test_zero_salary() -> None:
    fig = monthly_payslip(Decimal(0), "NGN", NG)
    assert (fig.gross, fig.income_tax, fig.pension, fig.net) == (0, 0, 0, 0)


@settings(max_examples=200, deadline=None)
@given(
    salary=st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False),
    which=st.sampled_from([("NGN", NG), ("GBP", GB)]),
)
def test_components_are_rounded_and_add_up(salary: Decimal, which: tuple[str, object]) -> None:
    currency, table = which
    assert isinstance(table, rules.StatutoryRules)
    fig = monthly_payslip(salary, currency, table)
    for part in (fig.gross, fig.income_tax, fig.pension, fig.net):
        assert part == part.quantize(Decimal("0.01"))
        assert part >= 0
    assert fig.gross == fig.income_tax + fig.pension + fig.net
