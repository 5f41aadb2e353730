"""Gateway tables: per-credential, per-day usage counters (written in batches)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from fluide.kit.db import Base, UTCDateTime


class UsageDaily(Base):
    """Requests per credential per UTC day; ``code`` is "" for allowed requests, else the denial."""

    __tablename__ = "usage_daily"
    tenant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    credential_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), primary_key=True, default="")
    count: Mapped[int] = mapped_column(Integer, default=0)


class UsageHourly(Base):
    """Calls per credential per UTC hour (the usage API and its CSV, issue 21). ``kind`` is
    "request" (a product call) or "exchange" (a token minted); ``code`` is "" when allowed, else
    the denial; ``company_id`` is the client company a partner's call acted for (DESIGN §3.7),
    "" for a call that acted for none."""

    __tablename__ = "usage_hourly"
    tenant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    credential_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    code: Mapped[str] = mapped_column(String(64), primary_key=True, default="")
    company_id: Mapped[str] = mapped_column(
        String(40), primary_key=True, default="", server_default=""
    )
    count: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_usage_hourly_tenant_hour", "tenant_id", "hour"),)
