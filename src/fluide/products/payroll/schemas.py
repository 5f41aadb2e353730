"""Payroll wire shapes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field

from fluide.kit.money import CurrencyStr, PositiveAmountStr, RateStr
from fluide.kit.schema import CamelModel


class BandIO(CamelModel):
    up_to: PositiveAmountStr | None = Field(description="Annual ceiling; null on the last band")
    rate: RateStr


class RuleSetIO(CamelModel):
    country_code: str = Field(pattern=r"^[A-Z]{2}$")
    effective_from: date
    currency: CurrencyStr
    bands: list[BandIO] = Field(min_length=1, max_length=50)
    pension_rate: RateStr
    pension_tax_deductible: bool = True
    source: str = Field(min_length=1, max_length=500)


class SettingsIn(CamelModel):
    rules: list[RuleSetIO] = Field(min_length=1, max_length=200)


class SettingsOut(CamelModel):
    origin: Literal["DEFAULT", "TENANT"]
    rules: list[RuleSetIO]
    updated_at: datetime | None


class RunCreate(CamelModel):
    period_month: int = Field(ge=1, le=12)
    period_year: int = Field(ge=2000, le=2100)
    pay_date: date
    employee_ids: list[str] | None = Field(default=None, min_length=1, max_length=5000)
    currency: CurrencyStr | None = None


class Deduction(CamelModel):
    code: Literal["INCOME_TAX", "PENSION"]
    name: str
    amount: str


class BankAccountOut(CamelModel):
    account_number: str
    bank_code: str


class PayslipOut(CamelModel):
    id: str
    run_id: str
    employee_id: str
    employee_code: str
    employee_name: str
    country_code: str
    currency: str
    gross: str
    deductions: list[Deduction]
    total_deductions: str
    net: str
    bank_account: BankAccountOut | None
    rules_source: str
    created_at: datetime


class RunTotals(CamelModel):
    gross: str
    income_tax: str
    pension: str
    net: str


class RunOut(CamelModel):
    id: str
    period_month: int
    period_year: int
    pay_date: date
    currency: str
    status: Literal["DRAFT", "APPROVED"]
    employee_count: int
    totals: RunTotals
    journal_entry_id: str | None
    approved_at: datetime | None
    created_at: datetime
    payslips: list[PayslipOut] | None = None
