"""Books wire shapes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import ConfigDict, Field

from fluide.kit.money import CurrencyStr, PositiveAmountStr
from fluide.kit.schema import CamelModel

AccountType = Literal["ASSET", "LIABILITY", "EQUITY", "INCOME", "EXPENSE"]


class AccountCreate(CamelModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"code": "6100", "name": "Office rent", "type": "EXPENSE"}]}
    )

    code: str = Field(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9.-]+$")
    name: str = Field(min_length=1, max_length=120)
    type: AccountType


class BooksAccount(CamelModel):
    id: str
    code: str
    name: str
    type: AccountType
    created_at: datetime


class LineIn(CamelModel):
    account_code: str = Field(min_length=1, max_length=20)
    debit: PositiveAmountStr = "0"
    credit: PositiveAmountStr = "0"


class JournalEntryCreate(CamelModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "date": "2026-11-27",
                    "description": "Owner's capital injection",
                    "currency": "NGN",
                    "lines": [
                        {"accountCode": "1000", "debit": "250000.00"},
                        {"accountCode": "3000", "credit": "250000.00"},
                    ],
                }
            ]
        }
    )

    date: date
    description: str = Field(min_length=1, max_length=500)
    currency: CurrencyStr
    lines: list[LineIn] = Field(min_length=2, max_length=200)


class LineOut(CamelModel):
    account_code: str
    debit: str
    credit: str


class JournalEntryOut(CamelModel):
    id: str
    date: date
    description: str
    currency: str
    status: Literal["POSTED", "VOIDED"]
    source: str
    source_ref: str | None
    reverses_id: str | None
    voided_by_id: str | None
    lines: list[LineOut]
    total_debit: str
    total_credit: str
    created_at: datetime


class TrialBalanceLine(CamelModel):
    account_code: str
    account_name: str
    account_type: AccountType
    currency: str
    debit: str
    credit: str
    balance: str  # debit - credit


class TrialBalanceTotal(CamelModel):
    currency: str
    debit: str
    credit: str
    balanced: bool


class TrialBalanceOut(CamelModel):
    as_of: date
    lines: list[TrialBalanceLine]
    totals: list[TrialBalanceTotal]
    balanced: bool
