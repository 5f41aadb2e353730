"""Payroll calculation: one month's payslip from an annual salary and the rules. No I/O.

Each component is rounded half-even to the currency's minor unit and net is derived from the
rounded components, so gross = tax + pension + net holds exactly on every payslip and so on the
run totals and in the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from fluide.kit import money
from fluide.products.payroll.rules import StatutoryRules, progressive_tax

MONTHS = Decimal(12)


@dataclass(frozen=True, slots=True)
class PayslipFigures:
    gross: Decimal
    income_tax: Decimal
    pension: Decimal
    net: Decimal


def monthly_payslip(annual_salary: Decimal, currency: str, rules: StatutoryRules) -> PayslipFigures:
    if annual_salary < 0:
        raise ValueError("salary must not be negative")
    gross = money.round_money(annual_salary / MONTHS, currency)
    pension = money.round_money(gross * rules.pension_rate, currency)
    annual_taxable = annual_salary
    if rules.pension_tax_deductible:
        annual_taxable -= annual_salary * rules.pension_rate
    annual_tax = progressive_tax(max(annual_taxable, Decimal(0)), rules.bands)
    income_tax = money.round_money(annual_tax / MONTHS, currency)
    # Deductions never exceed gross (cannot happen with rates ≤ 1, but the ledger relies on it).
    income_tax = min(income_tax, gross - pension)
    return PayslipFigures(gross, income_tax, pension, gross - income_tax - pension)
