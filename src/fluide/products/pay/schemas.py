"""Pay wire shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from fluide.kit.money import CurrencyStr, PositiveAmountStr
from fluide.kit.schema import CamelModel

PayoutStatus = Literal["PENDING", "PROCESSING", "SUCCEEDED", "FAILED"]


class WalletOut(CamelModel):
    id: str
    currency: str
    balance: str
    created_at: datetime
    updated_at: datetime


class FundIn(CamelModel):
    amount: PositiveAmountStr
    reference: str | None = Field(default=None, max_length=140)


class Recipient(CamelModel):
    name: str = Field(min_length=1, max_length=200)
    account_number: str = Field(pattern=r"^[0-9A-Za-z]{4,34}$")
    bank_code: str = Field(pattern=r"^[0-9A-Za-z]{1,20}$")


class PayoutCreate(CamelModel):
    amount: PositiveAmountStr
    currency: CurrencyStr
    recipient: Recipient
    reference: str = Field(min_length=1, max_length=140)


class PayoutOut(CamelModel):
    id: str
    amount: str
    currency: str
    recipient: Recipient
    reference: str
    status: PayoutStatus
    failure_reason: str | None
    payroll_run_id: str | None
    payslip_id: str | None
    attempts: int
    created_at: datetime
    updated_at: datetime
    settled_at: datetime | None


class DisburseOut(CamelModel):
    run_id: str
    currency: str
    payout_count: int
    total: str
    payouts: list[PayoutOut]
