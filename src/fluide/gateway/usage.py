"""Reading usage: the dashboard's chart (daily) and the usage API (hourly, issue 21), per acting
client company too (DESIGN §3.7). Writing is batched by the gateway (``gateway.recorder``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from fluide.gateway.models import UsageDaily, UsageHourly
from fluide.identity.models import Company
from fluide.kit.errors import ValidationFailed


@dataclass
class UsageSummary:
    days: list[date]
    requests: dict[str, list[int]] = field(default_factory=dict)  # credential id → per day
    denials: dict[str, int] = field(default_factory=dict)  # code → total over the window


async def usage_summary(
    session: AsyncSession, tenant_id: str, today: date, days: int = 14
) -> UsageSummary:
    start = today - timedelta(days=days - 1)
    window = [start + timedelta(days=i) for i in range(days)]
    index = {d: i for i, d in enumerate(window)}
    summary = UsageSummary(days=window)
    rows = await session.execute(
        select(UsageDaily.credential_id, UsageDaily.day, UsageDaily.code, UsageDaily.count).where(
            UsageDaily.tenant_id == tenant_id, UsageDaily.day >= start, UsageDaily.day <= today
        )
    )
    for credential_id, day, code, count in rows:
        if code:
            summary.denials[code] = summary.denials.get(code, 0) + count
        else:
            summary.requests.setdefault(credential_id, [0] * days)[index[day]] += count
    return summary


# ---- the usage API (issue 21): hourly counts of product calls and exchanges -----------------

GRANULARITIES = {"hour": 3600, "day": 86400}
# At most this many buckets in one answer (a month of hours, over a year of days).
MAX_BUCKETS = {"hour": 31 * 24, "day": 400}


@dataclass
class Bucket:
    start: datetime
    allowed: int = 0  # product calls that passed the guard
    denied: dict[str, int] = field(default_factory=dict)  # product calls refused, by code
    exchanges: int = 0  # tokens minted
    exchange_denied: dict[str, int] = field(default_factory=dict)  # exchanges refused, by code


@dataclass(frozen=True)
class UsageRow:
    """One count as stored: the CSV's line."""

    hour: datetime
    credential_id: str
    company_id: str  # the client company the calls acted for; "" for the tenant's own
    kind: str
    code: str
    count: int


def usage_window(
    start: datetime | None, end: datetime | None, granularity: str, now: datetime
) -> tuple[datetime, datetime]:
    """``[from, to)`` aligned to the granularity (UTC); the default is the last 24 hours or the
    last 7 days up to now. ValidationFailed for a reversed or oversized window."""
    step = GRANULARITIES[granularity]
    if end is None:
        end = now
    if start is None:
        start = end - timedelta(seconds=step * (24 if granularity == "hour" else 7))
    bad = [n for n, v in (("from", start), ("to", end)) if v.tzinfo is None]
    if bad:
        raise ValidationFailed(errors={n: ["give a time zone (e.g. Z)"] for n in bad})
    lo = _floor(start, step)
    hi = _floor(end, step)
    if hi < end:
        hi += timedelta(seconds=step)
    if hi <= lo:
        raise ValidationFailed(errors={"to": ["must be after from"]})
    if (hi - lo).total_seconds() / step > MAX_BUCKETS[granularity]:
        raise ValidationFailed(
            errors={"to": [f"at most {MAX_BUCKETS[granularity]} {granularity}s in one request"]}
        )
    return lo, hi


def _floor(when: datetime, step: int) -> datetime:
    seconds = int(when.timestamp()) // step * step
    return datetime.fromtimestamp(seconds, UTC)


async def usage_rows(
    session: AsyncSession,
    tenant_id: str,
    window: tuple[datetime, datetime],
    credential_id: str | None = None,
    company_id: str | None = None,
) -> list[UsageRow]:
    """The stored hourly counts of one tenant in ``[from, to)``, oldest first (``company_id``:
    only the calls that acted for that company)."""
    query = select(
        UsageHourly.hour,
        UsageHourly.credential_id,
        UsageHourly.company_id,
        UsageHourly.kind,
        UsageHourly.code,
        UsageHourly.count,
    ).where(
        UsageHourly.tenant_id == tenant_id,
        UsageHourly.hour >= window[0],
        UsageHourly.hour < window[1],
    )
    if credential_id is not None:
        query = query.where(UsageHourly.credential_id == credential_id)
    if company_id is not None:
        query = query.where(UsageHourly.company_id == company_id)
    rows = await session.execute(
        query.order_by(
            UsageHourly.hour, UsageHourly.credential_id, UsageHourly.company_id, UsageHourly.kind
        )
    )
    return [UsageRow(*row) for row in rows]


async def is_tenants_company(session: AsyncSession, tenant_id: str, company_id: str) -> bool:
    """Whether ``company_id`` is a client company of the tenant: one it has, or one it deleted
    whose calls are still counted under it. Another tenant's looks like one that never was."""
    if not company_id:
        return False
    current = exists().where(Company.id == company_id, Company.tenant_id == tenant_id)
    counted = exists().where(
        UsageHourly.tenant_id == tenant_id, UsageHourly.company_id == company_id
    )
    return bool(await session.scalar(select(current | counted)))


def by_company(
    rows: list[UsageRow], window: tuple[datetime, datetime], granularity: str
) -> list[tuple[str | None, list[Bucket]]]:
    """The buckets of each acting company apart: the tenant's own calls first (``None``: no
    company, exchanges included), then each company that has counts, by id."""
    split: dict[str, list[UsageRow]] = {}
    for row in rows:
        split.setdefault(row.company_id, []).append(row)
    return [
        (company or None, buckets(split[company], window, granularity)) for company in sorted(split)
    ]


def buckets(
    rows: list[UsageRow], window: tuple[datetime, datetime], granularity: str
) -> list[Bucket]:
    """Every bucket of the window (empty ones included), the rows added in."""
    step = GRANULARITIES[granularity]
    lo = window[0]
    n = int((window[1] - lo).total_seconds()) // step
    out = [Bucket(lo + timedelta(seconds=step * i)) for i in range(n)]
    for row in rows:
        b = out[int((row.hour - lo).total_seconds()) // step]
        if row.kind == "exchange":
            if row.code:
                b.exchange_denied[row.code] = b.exchange_denied.get(row.code, 0) + row.count
            else:
                b.exchanges += row.count
        elif row.code:
            b.denied[row.code] = b.denied.get(row.code, 0) + row.count
        else:
            b.allowed += row.count
    return out
