"""Usage written in batches: per-key per-day counts, per-key per-hour counts of product calls
and exchanges (the usage API, issue 21) with the client company a partner's call acted for
(DESIGN §3.7), and per-credential last-used time.

The request path only bumps counters in dicts; ``flush`` moves them to ``usage_daily`` and
``usage_hourly`` (upserts that add counts, on SQLite and PostgreSQL) and
``credentials.last_used_at`` every few seconds and on shutdown (the gateway's stop hook). A
failed flush puts the counts back for the next one.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Table, bindparam, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fluide.gateway.models import UsageDaily, UsageHourly
from fluide.identity.models import Credential
from fluide.identity.principal import Principal
from fluide.kit.faults import OUTAGES, fault_of

log = logging.getLogger("fluide.gateway.usage")
CHUNK = 500
CountKey = tuple[str, str, date, str]  # tenant id, credential id, day, code ("" = allowed)
# tenant id, credential id, hour (epoch seconds // 3600), kind ("request" | "exchange"), code,
# acting company id ("" = the tenant's own call)
HourKey = tuple[str, str, int, str, str, str]


class UsageRecorder:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker
        self._counts: dict[CountKey, int] = {}
        self._last_used: dict[str, datetime] = {}
        self._hourly: dict[HourKey, int] = {}

    def count(self, principal: Principal, now: datetime, code: str = "") -> None:
        """One product call (``code``: its denial, "" when allowed)."""
        tenant, cred = principal.tenant_id, principal.credential_id
        key = (tenant, cred, now.date(), code)
        counts = self._counts
        counts[key] = counts.get(key, 0) + 1
        company = principal.company_id or ""  # set only once the guard checked it
        hkey = (tenant, cred, int(now.timestamp()) // 3600, "request", code, company)
        hourly = self._hourly
        hourly[hkey] = hourly.get(hkey, 0) + 1

    def count_exchange(self, tenant_id: str, credential_id: str, now: datetime, code: str) -> None:
        """One token exchange of a known credential (``code``: its denial, "" when minted)."""
        hkey = (tenant_id, credential_id, int(now.timestamp()) // 3600, "exchange", code, "")
        self._hourly[hkey] = self._hourly.get(hkey, 0) + 1

    def touch(self, credential_id: str, when: datetime) -> None:
        self._last_used[credential_id] = when

    @property
    def pending(self) -> int:
        return len(self._counts) + len(self._last_used) + len(self._hourly)

    async def flush(self) -> int:
        """Write what has accumulated; return the number of rows written (0 if nothing)."""
        counts, self._counts = self._counts, {}
        used, self._last_used = self._last_used, {}
        hourly, self._hourly = self._hourly, {}
        if not counts and not used and not hourly:
            return 0
        try:
            async with self.sessionmaker() as session, session.begin():
                await upsert_counts(session, counts)
                await upsert_hourly(session, hourly)
                await update_last_used(session, used)
        except Exception as exc:
            self._restore(counts, used, hourly)  # kept for the next flush: nothing counted is lost
            fault = fault_of(exc)
            if fault is not None:  # an outage: one warning for all of it (kit.faults)
                OUTAGES.down(fault.dependency, exc)
            else:
                log.warning("usage flush failed", extra={"error_type": type(exc).__name__})
            raise
        return len(counts) + len(used) + len(hourly)

    def _restore(
        self, counts: dict[CountKey, int], used: dict[str, datetime], hourly: dict[HourKey, int]
    ) -> None:
        for key, n in counts.items():
            self._counts[key] = self._counts.get(key, 0) + n
        for hkey, n in hourly.items():
            self._hourly[hkey] = self._hourly.get(hkey, 0) + n
        for cid, when in used.items():
            newer = self._last_used.get(cid)
            if newer is None or newer < when:
                self._last_used[cid] = when


async def upsert_counts(session: AsyncSession, counts: dict[CountKey, int]) -> None:
    dialect = session.get_bind().dialect.name
    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    rows = [
        {"tenant_id": t, "credential_id": c, "day": d, "code": code, "count": n}
        for (t, c, d, code), n in counts.items()
    ]
    for i in range(0, len(rows), CHUNK):
        stmt = insert(UsageDaily).values(rows[i : i + CHUNK])
        stmt = stmt.on_conflict_do_update(
            index_elements=["tenant_id", "credential_id", "day", "code"],
            set_={"count": UsageDaily.count + stmt.excluded["count"]},
        )
        await session.execute(stmt)


async def upsert_hourly(session: AsyncSession, hourly: dict[HourKey, int]) -> None:
    if not hourly:
        return
    dialect = session.get_bind().dialect.name
    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    rows = [
        {
            "tenant_id": t,
            "credential_id": c,
            "hour": datetime.fromtimestamp(h * 3600, UTC),
            "kind": kind,
            "code": code,
            "company_id": company,
            "count": n,
        }
        for (t, c, h, kind, code, company), n in hourly.items()
    ]
    for i in range(0, len(rows), CHUNK):
        stmt = insert(UsageHourly).values(rows[i : i + CHUNK])
        stmt = stmt.on_conflict_do_update(
            index_elements=["tenant_id", "credential_id", "hour", "kind", "code", "company_id"],
            set_={"count": UsageHourly.count + stmt.excluded["count"]},
        )
        await session.execute(stmt)


async def update_last_used(session: AsyncSession, used: dict[str, datetime]) -> None:
    if not used:
        return
    table = Credential.__table__
    assert isinstance(table, Table)
    stmt = (
        update(table)
        .where(
            table.c.id == bindparam("b_id"),
            or_(table.c.last_used_at.is_(None), table.c.last_used_at < bindparam("b_when")),
        )
        .values(last_used_at=bindparam("b_when"))
    )
    conn = await session.connection()
    await conn.execute(stmt, [{"b_id": cid, "b_when": when} for cid, when in used.items()])
