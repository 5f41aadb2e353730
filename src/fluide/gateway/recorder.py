"""Usage written in batches: per-key per-day counts and per-credential last-used time.

The request path only bumps counters in dicts; ``flush`` moves them to ``usage_daily``
(an upsert that adds counts, on SQLite and PostgreSQL) and ``credentials.last_used_at``
every few seconds and on shutdown. A failed flush puts the counts back for the next one.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, bindparam, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fluide.gateway.models import UsageDaily
from fluide.identity.models import Credential
from fluide.identity.principal import Principal
from fluide.kit.faults import OUTAGES, fault_of

log = logging.getLogger("fluide.gateway.usage")
CHUNK = 500
CountKey = tuple[str, str, date, str]  # tenant id, credential id, day, code ("" = allowed)


class UsageRecorder:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker
        self._counts: dict[CountKey, int] = {}
        self._last_used: dict[str, datetime] = {}

    def count(self, principal: Principal, day: date, code: str = "") -> None:
        key = (principal.tenant_id, principal.credential_id, day, code)
        counts = self._counts
        counts[key] = counts.get(key, 0) + 1

    def touch(self, credential_id: str, when: datetime) -> None:
        self._last_used[credential_id] = when

    @property
    def pending(self) -> int:
        return len(self._counts) + len(self._last_used)

    async def flush(self) -> int:
        """Write what has accumulated; return the number of rows written (0 if nothing)."""
        counts, self._counts = self._counts, {}
        used, self._last_used = self._last_used, {}
        if not counts and not used:
            return 0
        try:
            async with self.sessionmaker() as session, session.begin():
                await upsert_counts(session, counts)
                await update_last_used(session, used)
        except Exception as exc:
            self._restore(counts, used)  # kept for the next flush: nothing counted is lost
            fault = fault_of(exc)
            if fault is not None:  # an outage: one warning for all of it (kit.faults)
                OUTAGES.down(fault.dependency, exc)
            else:
                log.warning("usage flush failed", extra={"error_type": type(exc).__name__})
            raise
        return len(counts) + len(used)

    def _restore(self, counts: dict[CountKey, int], used: dict[str, datetime]) -> None:
        for key, n in counts.items():
            self._counts[key] = self._counts.get(key, 0) + n
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
