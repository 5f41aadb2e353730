"""Typed models of the Fluide Connect API (pydantic v2).

- Attributes are snake_case; the wire is camelCase (``employee.hire_date`` ↔ ``hireDate``).
  Building a model accepts either spelling: ``Employee.model_validate({"hireDate": …})``.
- Money is ``Decimal``; it travels as a decimal string (the server refuses JSON numbers for
  amounts), and a ``float`` is refused here too, so no binary rounding reaches an amount.
- Dates are ``date`` and timestamps ``datetime``.
- Unknown fields are kept, not refused (``model.model_extra``): an older SDK keeps working
  against a newer server. For the same reason statuses and types are plain ``str`` (the
  values the server sends today are listed in each docstring).

The ``…Create`` / ``…Update`` / ``…Input`` models are what the resource methods send; you rarely
build them yourself (pass keyword arguments, or dicts for nested objects).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_camel

__all__ = [
    "AccountCreate",
    "AuthContext",
    "BankAccount",
    "Company",
    "CompanyCreate",
    "CompanyUpdate",
    "Country",
    "Credential",
    "Currency",
    "Deduction",
    "Disbursement",
    "Employee",
    "EmployeeCreate",
    "EmployeeUpdate",
    "FluideModel",
    "FundInput",
    "Health",
    "JournalEntry",
    "JournalEntryCreate",
    "JournalLine",
    "JournalLineInput",
    "LedgerAccount",
    "Money",
    "Payout",
    "PayoutCreate",
    "PayrollRun",
    "PayrollSettings",
    "PayrollSettingsUpdate",
    "Payslip",
    "Recipient",
    "RuleSet",
    "RunCreate",
    "RunTotals",
    "SecretRotation",
    "TaxBand",
    "TrialBalance",
    "TrialBalanceLine",
    "TrialBalanceTotal",
    "Wallet",
    "Workspace",
    "WorkspaceCreate",
    "WorkspaceUpdate",
]


def _refuse_float(value: Any) -> Any:
    if isinstance(value, float):
        raise ValueError("pass an amount as Decimal, str or int, not float")
    return value


def _decimal_text(value: Decimal) -> str:
    return format(value, "f")  # "7200000.00", never "7.2E+6"


Money = Annotated[
    Decimal,
    BeforeValidator(_refuse_float),
    PlainSerializer(_decimal_text, return_type=str, when_used="json"),
]
"""An amount or a rate: ``Decimal`` in Python, a decimal string on the wire."""


class FluideModel(BaseModel):
    """Base of every model: camelCase on the wire, unknown fields kept."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")


# ---- HR ---------------------------------------------------------------------------------------


class BankAccount(FluideModel):
    account_number: str
    bank_code: str


class Employee(FluideModel):
    """``employment_type``: FULL_TIME, PART_TIME, CONTRACT, INTERN. ``status``: PENDING,
    ACTIVE, INACTIVE, TERMINATED, ON_LEAVE."""

    id: str
    employee_code: str
    first_name: str
    last_name: str
    email: str
    department: str | None = None
    designation: str | None = None
    employment_type: str
    status: str
    salary: Money
    currency: str
    hire_date: date
    country_code: str
    bank_account: BankAccount | None = None
    created_at: datetime
    updated_at: datetime


class EmployeeCreate(FluideModel):
    employee_code: str
    first_name: str
    last_name: str
    email: str
    department: str | None = None
    designation: str | None = None
    employment_type: str | None = None
    status: str | None = None
    salary: Money
    currency: str
    hire_date: date
    country_code: str
    bank_account: BankAccount | None = None


class EmployeeUpdate(FluideModel):
    """Only the fields that were set are sent; ``None`` clears a field that may be empty."""

    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    department: str | None = None
    designation: str | None = None
    employment_type: str | None = None
    status: str | None = None
    salary: Money | None = None
    currency: str | None = None
    hire_date: date | None = None
    country_code: str | None = None
    bank_account: BankAccount | None = None


# ---- Payroll ----------------------------------------------------------------------------------


class TaxBand(FluideModel):
    """One income-tax band: ``rate`` applies up to the annual ``up_to`` (None: no ceiling)."""

    up_to: Money | None = None
    rate: Money


class RuleSet(FluideModel):
    country_code: str
    effective_from: date
    currency: str
    bands: list[TaxBand]
    pension_rate: Money
    pension_tax_deductible: bool = True
    source: str


class PayrollSettings(FluideModel):
    """``origin``: DEFAULT (the shipped tables) or TENANT (your own)."""

    origin: str
    rules: list[RuleSet]
    updated_at: datetime | None = None


class PayrollSettingsUpdate(FluideModel):
    rules: list[RuleSet]


class RunCreate(FluideModel):
    period_month: int
    period_year: int
    pay_date: date
    employee_ids: list[str] | None = None
    currency: str | None = None


class Deduction(FluideModel):
    """``code``: INCOME_TAX, PENSION."""

    code: str
    name: str
    amount: Money


class Payslip(FluideModel):
    id: str
    run_id: str
    employee_id: str
    employee_code: str
    employee_name: str
    country_code: str
    currency: str
    gross: Money
    deductions: list[Deduction]
    total_deductions: Money
    net: Money
    bank_account: BankAccount | None = None
    rules_source: str
    created_at: datetime


class RunTotals(FluideModel):
    gross: Money
    income_tax: Money
    pension: Money
    net: Money


class PayrollRun(FluideModel):
    """``status``: DRAFT, APPROVED. ``payslips`` is present on a single run, not in lists."""

    id: str
    period_month: int
    period_year: int
    pay_date: date
    currency: str
    status: str
    employee_count: int
    totals: RunTotals
    journal_entry_id: str | None = None
    approved_at: datetime | None = None
    created_at: datetime
    payslips: list[Payslip] | None = None


# ---- Pay --------------------------------------------------------------------------------------


class Wallet(FluideModel):
    id: str
    currency: str
    balance: Money
    created_at: datetime
    updated_at: datetime


class FundInput(FluideModel):
    amount: Money
    reference: str | None = None


class Recipient(FluideModel):
    name: str
    account_number: str
    bank_code: str


class PayoutCreate(FluideModel):
    amount: Money
    currency: str
    recipient: Recipient
    reference: str


class Payout(FluideModel):
    """``status``: PENDING, PROCESSING, SUCCEEDED, FAILED."""

    id: str
    amount: Money
    currency: str
    recipient: Recipient
    reference: str
    status: str
    failure_reason: str | None = None
    payroll_run_id: str | None = None
    payslip_id: str | None = None
    attempts: int
    created_at: datetime
    updated_at: datetime
    settled_at: datetime | None = None


class Disbursement(FluideModel):
    run_id: str
    currency: str
    payout_count: int
    total: Money
    payouts: list[Payout]


# ---- Books ------------------------------------------------------------------------------------


class LedgerAccount(FluideModel):
    """An account of the chart. ``type``: ASSET, LIABILITY, EQUITY, INCOME, EXPENSE."""

    id: str
    code: str
    name: str
    type: str
    created_at: datetime


class AccountCreate(FluideModel):
    code: str
    name: str
    type: str


class JournalLineInput(FluideModel):
    account_code: str
    debit: Money | None = None
    credit: Money | None = None


class JournalEntryCreate(FluideModel):
    date: date
    description: str
    currency: str
    lines: list[JournalLineInput]


class JournalLine(FluideModel):
    account_code: str
    debit: Money
    credit: Money


class JournalEntry(FluideModel):
    """``status``: POSTED, VOIDED. ``source``: MANUAL, PAYROLL, …"""

    id: str
    date: date
    description: str
    currency: str
    status: str
    source: str
    source_ref: str | None = None
    reverses_id: str | None = None
    voided_by_id: str | None = None
    lines: list[JournalLine]
    total_debit: Money
    total_credit: Money
    created_at: datetime


class TrialBalanceLine(FluideModel):
    account_code: str
    account_name: str
    account_type: str
    currency: str
    debit: Money
    credit: Money
    balance: Money


class TrialBalanceTotal(FluideModel):
    currency: str
    debit: Money
    credit: Money
    balanced: bool


class TrialBalance(FluideModel):
    as_of: date
    lines: list[TrialBalanceLine]
    totals: list[TrialBalanceTotal]
    balanced: bool


# ---- Utils ------------------------------------------------------------------------------------


class Country(FluideModel):
    code: str
    name: str
    currency: str
    statutory_rules: bool


class Currency(FluideModel):
    code: str
    name: str
    minor_units: int


# ---- Partners: workspaces and client companies -----------------------------------------------


class Workspace(FluideModel):
    id: str
    name: str
    created_at: datetime
    updated_at: datetime


class WorkspaceCreate(FluideModel):
    name: str


class WorkspaceUpdate(FluideModel):
    name: str | None = None


class Company(FluideModel):
    """``status``: ACTIVE, SUSPENDED (a suspended company cannot be acted for)."""

    id: str
    workspace_id: str
    name: str
    country_code: str
    currency: str
    status: str
    created_at: datetime
    updated_at: datetime


class CompanyCreate(FluideModel):
    name: str
    country_code: str
    currency: str
    status: str | None = None


class CompanyUpdate(FluideModel):
    name: str | None = None
    country_code: str | None = None
    currency: str | None = None
    status: str | None = None


# ---- Developer session and health -------------------------------------------------------------


class Credential(FluideModel):
    """The credential behind the token: never its secret."""

    id: str
    api_key: str
    name: str
    status: str
    environment: str
    tenant_id: str
    scopes: list[str]
    created_at: datetime
    secret_rotated_at: datetime | None = None
    last_used_at: datetime | None = None
    previous_secret_expires_at: datetime | None = None
    secret_exposed_at: datetime | None = None
    revoked_at: datetime | None = None


class SecretRotation(FluideModel):
    """The answer of a rotation: the new secret is shown once, so store it now. ``repr`` never
    shows it."""

    api_key: str
    api_secret: str = Field(repr=False)
    rotated_at: datetime
    previous_secret_expires_at: datetime | None = None


class AuthContext(FluideModel):
    """``status``: active, revoked, expired. ``workspace_id`` and ``company_id``: the client
    company the asking client acts for (``client.acting_as(…)``), else ``None``."""

    jti: str
    tenant_id: str
    fluide_client_id: str
    api_key: str
    scopes: list[str]
    issued_at: datetime
    expires_at: datetime
    status: str
    workspace_id: str | None = None
    company_id: str | None = None


class Health(FluideModel):
    """``status``: ok or error; ``checks`` maps a dependency to up or down."""

    status: str
    service: str
    checks: dict[str, str]
