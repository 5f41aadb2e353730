"""Books tables: accounts, journal entries and their lines (never deleted; voids reverse)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fluide.kit.db import Base, UTCDateTime
from fluide.kit.money import DecimalAmount


class LedgerAccount(Base):
    __tablename__ = "books_accounts"
    __table_args__ = (UniqueConstraint("tenant_id", "code", name="uq_books_accounts_tenant_code"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    code: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(120))
    type: Mapped[str] = mapped_column(String(16))  # ASSET LIABILITY EQUITY INCOME EXPENSE
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class JournalEntry(Base):
    __tablename__ = "books_journal_entries"
    __table_args__ = (Index("ix_books_journal_entries_tenant_date", "tenant_id", "entry_date"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    entry_date: Mapped[date] = mapped_column(Date)
    description: Mapped[str] = mapped_column(String(500))
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))  # POSTED | VOIDED
    source: Mapped[str] = mapped_column(String(16))  # MANUAL | PAYROLL | PAY | VOID
    source_ref: Mapped[str | None] = mapped_column(String(80), nullable=True)
    reverses_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    voided_by_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lines: Mapped[list[JournalLine]] = relationship(
        back_populates="entry", order_by="JournalLine.line_no", lazy="selectin"
    )


class JournalLine(Base):
    __tablename__ = "books_journal_lines"
    __table_args__ = (Index("ix_books_journal_lines_tenant_account", "tenant_id", "account_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("books_journal_entries.id", ondelete="CASCADE")
    )
    tenant_id: Mapped[str] = mapped_column(String(40))
    line_no: Mapped[int] = mapped_column(Integer)
    account_code: Mapped[str] = mapped_column(String(20))
    debit: Mapped[Decimal] = mapped_column(DecimalAmount())
    credit: Mapped[Decimal] = mapped_column(DecimalAmount())
    entry: Mapped[JournalEntry] = relationship(back_populates="lines")
