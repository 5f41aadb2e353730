"""Gateway tables: per-credential, per-day usage counters (written in batches)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from fluide.kit.db import Base


class UsageDaily(Base):
    """Requests per credential per UTC day; ``code`` is "" for allowed requests, else the denial."""

    __tablename__ = "usage_daily"
    tenant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    credential_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), primary_key=True, default="")
    count: Mapped[int] = mapped_column(Integer, default=0)
