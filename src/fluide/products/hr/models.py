"""HR tables."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fluide.kit.db import Base, UTCDateTime
from fluide.kit.money import DecimalAmount


class Employee(Base):
    __tablename__ = "hr_employees"
    __table_args__ = (
        UniqueConstraint("tenant_id", "employee_code", name="uq_hr_employees_tenant_code"),
        Index("ix_hr_employees_tenant_status", "tenant_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    employee_code: Mapped[str] = mapped_column(String(64))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254))
    department: Mapped[str | None] = mapped_column(String(100), nullable=True)
    designation: Mapped[str | None] = mapped_column(String(100), nullable=True)
    employment_type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    salary: Mapped[Decimal] = mapped_column(DecimalAmount())  # annual, in ``currency``
    currency: Mapped[str] = mapped_column(String(3))
    hire_date: Mapped[date] = mapped_column(Date)
    country_code: Mapped[str] = mapped_column(String(2))
    bank_account_number: Mapped[str | None] = mapped_column(String(34), nullable=True)
    bank_code: Mapped[str | None] = mapped_column(String(20), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
