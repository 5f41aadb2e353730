"""The dashboard's activity pages (usage, audit log) and its HTML 404 for any other path."""

from __future__ import annotations

import contextlib
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from sqlalchemy import select
from starlette.responses import Response

from fluide.dashboard import charts
from fluide.dashboard.web import (
    PREFIX,
    HtmlRoute,
    SignedIn,
    error_page,
    render,
    signed_in,
    tenant_credentials,
)
from fluide.gateway.usage import usage_summary
from fluide.identity import audit
from fluide.identity.deps import AccountsDep
from fluide.identity.errors import SessionRequired
from fluide.identity.models import AuditEvent
from fluide.kit.pagination import PageParams
from fluide.kit.uow import DbSession, InfraDep

router = APIRouter(prefix=PREFIX, route_class=HtmlRoute, include_in_schema=False)
AUDIT_PAGE_SIZE = 25


@router.get("/usage")
async def usage_page(
    request: Request, infra: InfraDep, session: DbSession, current: SignedIn
) -> Response:
    account, _ = current
    creds = await tenant_credentials(session, account.tenant_id)
    names = {c.id: f"{c.name} ({c.api_key[:11]}…)" for c in creds}
    summary = await usage_summary(session, account.tenant_id, infra.clock().date(), days=14)
    series = sorted(
        ((names.get(cid, cid), counts) for cid, counts in summary.requests.items()),
        key=lambda s: (-sum(s[1]), s[0]),
    )
    return render(
        request,
        "usage.html",
        {
            "title": "Usage",
            "account": account,
            "chart": charts.stacked_bars(summary.days, series),
            "days": summary.days,
            "series": series,
            "denials": sorted(summary.denials.items(), key=lambda d: (-d[1], d[0])),
            "export_from": (summary.days[0]).isoformat(),
            "export_to": (summary.days[-1]).isoformat(),
            "nav": "usage",
        },
    )


@router.get("/audit")
async def audit_page(
    request: Request,
    session: DbSession,
    current: SignedIn,
    action: Annotated[str, Query(max_length=64)] = "",
    outcome: Annotated[str, Query(max_length=16)] = "",
    credential: Annotated[str, Query(max_length=40)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    account, _ = current
    events, total = await audit.page_of_events(
        session,
        account.tenant_id,
        PageParams(page=page, limit=AUDIT_PAGE_SIZE),
        action=action,
        outcome=outcome,
        credential_id=credential,
    )
    actions = sorted(
        (
            await session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.tenant_id == account.tenant_id)
                .distinct()
            )
        ).all()
    )
    creds = await tenant_credentials(session, account.tenant_id)
    filters = {"action": action, "outcome": outcome, "credential": credential}
    kept = {k: v for k, v in filters.items() if v}
    pages = max(1, -(-total // AUDIT_PAGE_SIZE))
    return render(
        request,
        "audit.html",
        {
            "title": "Audit log",
            "account": account,
            "events": events,
            "actions": actions,
            "credentials": creds,
            "cred_names": {c.id: c.name for c in creds},
            "filters": filters,
            "total": total,
            "page": page,
            "pages": pages,
            "prev_url": f"?{urlencode({**kept, 'page': page - 1})}" if page > 1 else None,
            "next_url": f"?{urlencode({**kept, 'page': page + 1})}" if page < pages else None,
            "nav": "audit",
        },
    )


@router.api_route("/{path:path}", methods=["GET", "POST"])
async def not_found(
    request: Request, session: DbSession, accounts: AccountsDep, path: str
) -> Response:
    with contextlib.suppress(SessionRequired):
        await signed_in(request, session, accounts)  # only to show the right navigation
    return error_page(request, 404, "Page not found", "There is no dashboard page at this address.")
