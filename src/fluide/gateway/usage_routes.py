"""The usage API (issue 21): ``GET /api/v1/auth/usage`` and ``/api/v1/auth/usage.csv``, for the
signed-in account's tenant (an account session, as every ``/api/v1/auth`` route). Counts come
from ``usage_hourly``, written in batches by the gateway (no database write per request)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import Field

from fluide.gateway.usage import UsageRow, buckets, usage_rows, usage_window
from fluide.identity import credentials
from fluide.identity.deps import AccountSessionDep
from fluide.kit.schema import CamelModel
from fluide.kit.uow import DbSession, InfraDep

router = APIRouter(prefix="/api/v1/auth", tags=["Accounts"])

Granularity = Literal["hour", "day"]
From = Annotated[datetime | None, Query(alias="from", description="Inclusive (ISO 8601, zoned)")]
To = Annotated[datetime | None, Query(description="Exclusive (ISO 8601, zoned); default now")]
CredentialFilter = Annotated[str | None, Query(alias="credentialId", max_length=64)]


class UsageBucket(CamelModel):
    start: datetime
    allowed: int
    denied: dict[str, int]
    exchanges: int
    exchange_denied: dict[str, int]


class UsageOut(CamelModel):
    from_: datetime = Field(alias="from")
    to: datetime
    granularity: Granularity
    credential_id: str | None
    items: list[UsageBucket]


async def _window(
    session: DbSession,
    tenant_id: str,
    infra: InfraDep,
    start: datetime | None,
    end: datetime | None,
    granularity: str,
    credential_id: str | None,
) -> tuple[datetime, datetime]:
    if credential_id is not None:
        # Another tenant's credential is a 404, like one that does not exist.
        await credentials.get_for_tenant(session, tenant_id, credential_id)
    return usage_window(start, end, granularity, infra.clock())


@router.get("/usage", operation_id="accounts.usage", response_model=UsageOut)
async def usage(
    current: AccountSessionDep,
    session: DbSession,
    infra: InfraDep,
    start: From = None,
    to: To = None,
    granularity: Granularity = "day",
    credential_id: CredentialFilter = None,
) -> UsageOut:
    """Your tenant's usage per hour or day: product calls allowed, denials by code, exchanges."""
    account, _ = current
    window = await _window(session, account.tenant_id, infra, start, to, granularity, credential_id)
    rows = await usage_rows(session, account.tenant_id, window, credential_id)
    return UsageOut(
        from_=window[0],
        to=window[1],
        granularity=granularity,
        credential_id=credential_id,
        items=[UsageBucket(**vars(b)) for b in buckets(rows, window, granularity)],
    )


CSV_COLUMNS = ("hour", "credentialId", "kind", "outcome", "code", "count")


@router.get(
    "/usage.csv",
    operation_id="accounts.usage_csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "One line per stored count"}},
)
async def usage_csv(
    current: AccountSessionDep,
    session: DbSession,
    infra: InfraDep,
    start: From = None,
    to: To = None,
    granularity: Granularity = "day",
    credential_id: CredentialFilter = None,
) -> Response:
    """The same counts as CSV, one line per hour, credential, kind and outcome."""
    account, _ = current
    window = await _window(session, account.tenant_id, infra, start, to, granularity, credential_id)
    rows = await usage_rows(session, account.tenant_id, window, credential_id)
    return csv_response(rows, window)


def csv_response(rows: list[UsageRow], window: tuple[datetime, datetime]) -> Response:
    """The usage CSV as a download (the API's and the dashboard's)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        outcome = "denied" if row.code else "allowed"
        writer.writerow(
            (row.hour.isoformat(), row.credential_id, row.kind, outcome, row.code, row.count)
        )
    name = f"fluide-usage-{window[0]:%Y%m%d}-{window[1]:%Y%m%d}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )
