"""Payroll tables."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fluide.kit.db import Base, UTCDateTime
from fluide.kit.money import DecimalAmount


class PayrollSettings(Base):
    """A tenant's own statutory tables (JSON), replacing the shipped defaults."""

    __tablename__ = "payroll_settings"

    tenant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    rules_json: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PayrollRun(Base):
    __tablename__ = "payroll_runs"
    __table_args__ = (Index("ix_payroll_runs_tenant_created", "tenant_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    period_month: Mapped[int] = mapped_column(Integer)
    period_year: Mapped[int] = mapped_column(Integer)
    pay_date: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))  # DRAFT | APPROVED
    employee_count: Mapped[int] = mapped_column(Integer)
    total_gross: Mapped[Decimal] = mapped_column(DecimalAmount())
    total_income_tax: Mapped[Decimal] = mapped_column(DecimalAmount())
    total_pension: Mapped[Decimal] = mapped_column(DecimalAmount())
    total_net: Mapped[Decimal] = mapped_column(DecimalAmount())
    journal_entry_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Payslip(Base):
    __tablename__ = "payroll_payslips"
    __table_args__ = (Index("ix_payroll_payslips_tenant_run", "tenant_id", "run_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    run_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("payroll_runs.id", ondelete="CASCADE")
    )
    employee_id: Mapped[str] = mapped_column(String(40))
    employee_code: Mapped[str] = mapped_column(String(64))
    employee_name: Mapped[str] = mapped_column(String(201))
    country_code: Mapped[str] = mapped_column(String(2))
    currency: Mapped[str] = mapped_column(String(3))
    gross: Mapped[Decimal] = mapped_column(DecimalAmount())
    income_tax: Mapped[Decimal] = mapped_column(DecimalAmount())
    pension: Mapped[Decimal] = mapped_column(DecimalAmount())
    net: Mapped[Decimal] = mapped_column(DecimalAmount())
    bank_account_number: Mapped[str | None] = mapped_column(String(34), nullable=True)
    bank_code: Mapped[str | None] = mapped_column(String(20), nullable=True)
    rules_source: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
