"""Reading usage (the dashboard's chart). Writing is batched by the gateway."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fluide.gateway.models import UsageDaily


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
