"""The usage API (issue 21): ``GET /api/v1/auth/usage`` and ``/api/v1/auth/usage.csv``, for the
signed-in account's tenant (an account session, as every ``/api/v1/auth`` route). Counts come
from ``usage_hourly``, written in batches by the gateway (no database write per request).

A partner's calls are counted per client company they acted for (DESIGN §3.7): ``companyId``
keeps one company's, ``groupBy=company`` answers each company's buckets apart, and the CSV has a
``companyId`` column. Every count read is the tenant's own, so another tenant's company never
shows; naming one (or one that never was) is a 404, as for a credential."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import Field

from fluide.gateway.usage import (
    UsageRow,
    buckets,
    by_company,
    is_tenants_company,
    usage_rows,
    usage_window,
)
from fluide.identity import credentials
from fluide.identity.deps import AccountSessionDep
from fluide.identity.errors import CompanyNotFound
from fluide.kit.schema import CamelModel
from fluide.kit.uow import DbSession, InfraDep

router = APIRouter(prefix="/api/v1/auth", tags=["Accounts"])

Granularity = Literal["hour", "day"]
From = Annotated[datetime | None, Query(alias="from", description="Inclusive (ISO 8601, zoned)")]
To = Annotated[datetime | None, Query(description="Exclusive (ISO 8601, zoned); default now")]
CredentialFilter = Annotated[str | None, Query(alias="credentialId", max_length=64)]
CompanyFilter = Annotated[
    str | None,
    Query(
        alias="companyId",
        max_length=64,
        description="Only the calls that acted for this client company of yours (partners)",
    ),
]
GroupBy = Annotated[
    Literal["company"] | None,
    Query(
        alias="groupBy",
        description="`company`: also each acting company's buckets apart, in `groups`",
    ),
]


class UsageBucket(CamelModel):
    start: datetime
    allowed: int
    denied: dict[str, int]
    exchanges: int
    exchange_denied: dict[str, int]


class UsageGroup(CamelModel):
    company_id: str | None = Field(
        description="The client company the calls acted for; null for your own calls (and "
        "every exchange)"
    )
    items: list[UsageBucket]


class UsageOut(CamelModel):
    from_: datetime = Field(alias="from")
    to: datetime
    granularity: Granularity
    credential_id: str | None
    company_id: str | None = None
    group_by: Literal["company"] | None = None
    items: list[UsageBucket]
    groups: list[UsageGroup] = Field(
        default_factory=list, description="With `groupBy=company`: the items of each company"
    )


async def _window(
    session: DbSession,
    tenant_id: str,
    infra: InfraDep,
    start: datetime | None,
    end: datetime | None,
    granularity: str,
    credential_id: str | None,
    company_id: str | None = None,
) -> tuple[datetime, datetime]:
    if credential_id is not None:
        # Another tenant's credential is a 404, like one that does not exist.
        await credentials.get_for_tenant(session, tenant_id, credential_id)
    if company_id is not None and not await is_tenants_company(session, tenant_id, company_id):
        raise CompanyNotFound  # another tenant's company too
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
    company_id: CompanyFilter = None,
    group_by: GroupBy = None,
) -> UsageOut:
    """Your tenant's usage per hour or day: product calls allowed, denials by code, exchanges;
    per acting client company with `companyId` or `groupBy=company`."""
    account, _ = current
    tenant = account.tenant_id
    window = await _window(
        session, tenant, infra, start, to, granularity, credential_id, company_id
    )
    rows = await usage_rows(session, tenant, window, credential_id, company_id)
    groups = by_company(rows, window, granularity) if group_by == "company" else []
    return UsageOut(
        from_=window[0],
        to=window[1],
        granularity=granularity,
        credential_id=credential_id,
        company_id=company_id,
        group_by=group_by,
        items=[UsageBucket(**vars(b)) for b in buckets(rows, window, granularity)],
        groups=[
            UsageGroup(company_id=c, items=[UsageBucket(**vars(b)) for b in items])
            for c, items in groups
        ],
    )


CSV_COLUMNS = ("hour", "credentialId", "companyId", "kind", "outcome", "code", "count")


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
    company_id: CompanyFilter = None,
) -> Response:
    """The same counts as CSV, one line per hour, credential, acting company, kind and outcome
    (`companyId` empty for your own calls)."""
    account, _ = current
    tenant = account.tenant_id
    window = await _window(
        session, tenant, infra, start, to, granularity, credential_id, company_id
    )
    rows = await usage_rows(session, tenant, window, credential_id, company_id)
    return csv_response(rows, window)


def csv_response(rows: list[UsageRow], window: tuple[datetime, datetime]) -> Response:
    """The usage CSV as a download (the API's and the dashboard's)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        outcome = "denied" if row.code else "allowed"
        writer.writerow(
            (
                row.hour.isoformat(),
                row.credential_id,
                row.company_id,
                row.kind,
                outcome,
                row.code,
                row.count,
            )
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
