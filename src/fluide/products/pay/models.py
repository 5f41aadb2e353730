"""Pay tables."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fluide.kit.db import Base, UTCDateTime
from fluide.kit.money import DecimalAmount


class Wallet(Base):
    __tablename__ = "pay_wallets"
    __table_args__ = (
        UniqueConstraint("tenant_id", "currency", name="uq_pay_wallets_tenant_currency"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    currency: Mapped[str] = mapped_column(String(3))
    balance: Mapped[Decimal] = mapped_column(DecimalAmount())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Payout(Base):
    __tablename__ = "pay_payouts"
    __table_args__ = (
        # A payslip is paid at most once, whatever keys the client sends.
        UniqueConstraint("tenant_id", "payslip_id", name="uq_pay_payouts_tenant_payslip"),
        Index("ix_pay_payouts_status_claimed", "status", "claimed_at"),
        Index("ix_pay_payouts_tenant_created", "tenant_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal] = mapped_column(DecimalAmount())
    recipient_name: Mapped[str] = mapped_column(String(200))
    account_number: Mapped[str] = mapped_column(String(34))
    bank_code: Mapped[str] = mapped_column(String(20))
    reference: Mapped[str] = mapped_column(String(140))
    status: Mapped[str] = mapped_column(String(16))  # PENDING PROCESSING SUCCEEDED FAILED
    failure_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    payroll_run_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    payslip_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    debit_account_code: Mapped[str] = mapped_column(String(20))  # ledger account settled to
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
