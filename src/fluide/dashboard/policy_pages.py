"""The dashboard's credential policy page (issue 21) and the usage CSV download.

The policy form posts every field (an empty one lifts that restriction); the service validates
it as the API does (``identity.credentials.PolicyChange``), so the dashboard, the API and the
CLI accept and refuse the same values. Nothing here commits: the request's unit of work does,
and applies the change in this process before the page is sent.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import Response

from fluide.dashboard.web import (
    PREFIX,
    CsrfChecked,
    HtmlRoute,
    SignedIn,
    account_actor,
    error_page,
    form_error,
    owned_credential,
    redirect,
    render,
    tenant_scopes,
)
from fluide.gateway.usage import usage_rows, usage_window
from fluide.gateway.usage_routes import csv_response
from fluide.identity.credentials import PolicyChange
from fluide.identity.deps import CredentialsDep
from fluide.identity.policy import load_cidrs
from fluide.kit.errors import ValidationFailed
from fluide.kit.uow import DbSession, InfraDep

router = APIRouter(prefix=PREFIX, route_class=HtmlRoute, include_in_schema=False)


@router.get("/keys/{credential_id}/policy")
async def policy_page(
    request: Request, session: DbSession, current: SignedIn, credential_id: str
) -> Response:
    account, _ = current
    cred = await owned_credential(session, account, credential_id)
    return render(
        request,
        "policy.html",
        {
            "title": "Key policy",
            "account": account,
            "credential": cred,
            "cidrs": "\n".join(load_cidrs(cred.allowed_cidrs) or []),
            "expires": cred.expires_at.strftime("%Y-%m-%dT%H:%M") if cred.expires_at else "",
            "all_scopes": tenant_scopes(request),
            "nav": "keys",
        },
    )


@router.post("/keys/{credential_id}/policy", dependencies=[CsrfChecked])
async def set_policy(
    request: Request,
    creds: CredentialsDep,
    session: DbSession,
    current: SignedIn,
    credential_id: str,
    expires_at: Annotated[str, Form(max_length=40)] = "",
    allowed_cidrs: Annotated[str, Form(max_length=8000)] = "",
    rate_limit: Annotated[str, Form(max_length=32)] = "",
    scopes: Annotated[list[str] | None, Form()] = None,
) -> Response:
    account, _ = current
    cred = await owned_credential(session, account, credential_id, for_update=True)
    try:
        expiry = _utc(expires_at) if expires_at.strip() else None
    except ValueError:
        return error_page(request, 400, "Please check the form", "The expiry is not a date.")
    cidrs = [line for line in allowed_cidrs.replace(",", "\n").splitlines() if line.strip()]
    change = PolicyChange(
        expires_at=expiry,
        allowed_cidrs=cidrs or None,
        rate_limit=rate_limit.strip() or None,
        scopes=scopes or [],
    )
    try:
        await creds.set_policy(session, account_actor(request, account), cred, change)
    except ValidationFailed as exc:
        return form_error(request, exc)
    return redirect(f"{PREFIX}/keys?done=policy")


def _utc(text: str) -> datetime:
    """The form's ``datetime-local`` value, read as UTC (the page says so)."""
    value = datetime.fromisoformat(text.strip())
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@router.get("/usage.csv")
async def usage_csv(
    request: Request,
    infra: InfraDep,
    session: DbSession,
    current: SignedIn,
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
) -> Response:
    """The tenant's hourly usage between two dates (both included, UTC) as CSV."""
    account, _ = current
    lo = None if start is None else datetime.combine(start, time(), UTC)
    hi = None if end is None else datetime.combine(end + timedelta(days=1), time(), UTC)
    try:
        window = usage_window(lo, hi, "day", infra.clock())
    except ValidationFailed as exc:
        return form_error(request, exc, "Please check the dates")
    return csv_response(await usage_rows(session, account.tenant_id, window), window)
