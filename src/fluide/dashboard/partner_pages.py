"""The dashboard's workspace and client-company pages (DESIGN §3.7), for a partner tenant only.

A business tenant's account gets the dashboard's 404 page at every address here, as for a page
that does not exist. Every read and write goes through the partners service
(``identity.partners.service``) and its wire models' rules (``identity.partners.schemas``), so
the dashboard, the API and the SDK accept and refuse the same values; another tenant's
workspace or company is a 404. A form with a bad value is shown again with its values and the
problems (a 400 raised as ``PageError``: nothing is written). Nothing here commits: the
request's unit of work does, and the act-as view follows within a second
(``identity.tenancy``).

"Try it" for a company mints a token for one of the tenant's keys that carries
``partner:client:act-as`` and hands it to the playground with the workspace and company, which
then sends ``X-Workspace-Id`` and ``X-Acting-Company-Id`` on product calls (``key_pages``,
``apidocs/static/fluide-docs.js``).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from pydantic import ValidationError
from starlette.responses import Response

from fluide.dashboard.key_pages import playground_page
from fluide.dashboard.web import (
    PREFIX,
    CsrfChecked,
    HtmlRoute,
    PageError,
    SignedIn,
    account_actor,
    field_errors,
    owned_credential,
    redirect,
    render,
    tenant_credentials,
)
from fluide.identity.deps import PartnersDep, SessionTokensDep
from fluide.identity.models import Account, Credential
from fluide.identity.partners.schemas import (
    CompanyIn,
    CompanyOut,
    CompanyUpdate,
    WorkspaceIn,
    WorkspaceOut,
    WorkspaceUpdate,
)
from fluide.identity.principal import ACT_AS_SCOPE
from fluide.kit.errors import NotFound
from fluide.kit.pagination import PageParams
from fluide.kit.uow import DbSession

router = APIRouter(prefix=PREFIX, route_class=HtmlRoute, include_in_schema=False)
PAGE_SIZE = 25
# Generous bounds for the raw form fields: within them, the wire models' rules give each field
# its own message; beyond them, the request is refused as a whole.
TEXT_MAX = 1000
STATUSES = ("ACTIVE", "SUSPENDED")
LABELS = {
    "name": "Name",
    "country_code": "Country code",
    "countryCode": "Country code",
    "currency": "Currency",
    "status": "Status",
}
_DONE = {
    "created": "The workspace is created.",
    "renamed": "The workspace is renamed.",
    "deleted": "The workspace and its companies are deleted: acting for them has stopped.",
    "company-created": "The company is added.",
    "company-saved": "The company is saved: every process applies it within a second.",
    "company-deleted": "The company is deleted: acting for it has stopped.",
}


async def _partner(request: Request, current: SignedIn) -> Account:
    """The signed-in account, if its tenant is a partner; anyone else sees no such page."""
    if not request.scope.get("state", {}).get("dashboard_partner"):
        raise NotFound("There is no dashboard page at this address.")
    return current[0]


PartnerAccount = Annotated[Account, Depends(_partner)]
Page = Annotated[int, Query(ge=1, le=100_000)]
Search = Annotated[str, Query(max_length=200)]
Text = Annotated[str, Form(max_length=TEXT_MAX)]


def _problems(exc: ValidationError) -> list[str]:
    return [
        f"{LABELS.get(field, field)}: {message}"
        for field, messages in field_errors(exc).items()
        for message in messages
    ]


def _show(request: Request, template: str, context: dict[str, Any]) -> Response:
    """The page; with a form's problems in it, a 400 raised as ``PageError`` so that the
    request's work is rolled back (the context holds wire models, no ORM rows)."""
    if any(key.endswith("problems") for key in context):
        raise PageError(template, context, 400)
    return render(request, template, context)


def _pager(page: int, total: int, q: str) -> dict[str, Any]:
    pages = max(1, -(-total // PAGE_SIZE))
    kept = {"q": q} if q else {}
    return {
        "total": total,
        "page": page,
        "pages": pages,
        "q": q,
        "prev_url": f"?{urlencode({**kept, 'page': page - 1})}" if page > 1 else None,
        "next_url": f"?{urlencode({**kept, 'page': page + 1})}" if page < pages else None,
    }


def _company_form(name: str, country_code: str, currency: str, status: str) -> dict[str, str]:
    """The company form's values as the wire models take them (codes upper-cased)."""
    return {
        "name": name.strip(),
        "country_code": country_code.strip().upper(),
        "currency": currency.strip().upper(),
        "status": status.strip().upper(),
    }


# ---- workspaces -------------------------------------------------------------------------------


async def _workspaces_page(
    request: Request,
    partners: PartnersDep,
    session: DbSession,
    account: Account,
    page: int = 1,
    q: str = "",
    **extra: Any,
) -> Response:
    params = PageParams(page=page, limit=PAGE_SIZE, q=q or None)
    rows, total = await partners.list_workspaces(session, account.tenant_id, params)
    context = {
        "title": "Workspaces",
        "workspaces": [WorkspaceOut.of(w) for w in rows],
        "form": {"name": ""},
        "nav": "workspaces",
        **_pager(page, total, q),
    }
    context.update(extra)
    return _show(request, "workspaces.html", context)


@router.get("/workspaces")
async def workspaces_page(
    request: Request,
    partners: PartnersDep,
    session: DbSession,
    account: PartnerAccount,
    page: Page = 1,
    q: Search = "",
    done: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    return await _workspaces_page(
        request, partners, session, account, page, q, notice=_DONE.get(done)
    )


@router.post("/workspaces", dependencies=[CsrfChecked])
async def create_workspace(
    request: Request,
    partners: PartnersDep,
    session: DbSession,
    account: PartnerAccount,
    name: Text = "",
) -> Response:
    try:
        body = WorkspaceIn(name=name.strip())
    except ValidationError as exc:
        return await _workspaces_page(
            request, partners, session, account, form={"name": name}, problems=_problems(exc)
        )
    actor = account_actor(request, account)
    ws = await partners.create_workspace(session, actor, account.tenant_id, body)
    return redirect(f"{PREFIX}/workspaces/{ws.id}?done=created")


async def _workspace_page(
    request: Request,
    partners: PartnersDep,
    session: DbSession,
    account: Account,
    workspace_id: str,
    page: int = 1,
    q: str = "",
    **extra: Any,
) -> Response:
    ws = await partners.get_workspace(session, account.tenant_id, workspace_id)
    params = PageParams(page=page, limit=PAGE_SIZE, q=q or None)
    rows, total = await partners.list_companies(session, account.tenant_id, ws.id, params)
    context = {
        "title": f"Workspace {ws.name}",
        "workspace": WorkspaceOut.of(ws),
        "companies": [CompanyOut.of(c) for c in rows],
        "rename": {"name": ws.name},
        "form": _company_form("", "", "", "ACTIVE"),
        "statuses": STATUSES,
        "nav": "workspaces",
        **_pager(page, total, q),
    }
    context.update(extra)
    return _show(request, "workspace.html", context)


@router.get("/workspaces/{workspace_id}")
async def workspace_page(
    request: Request,
    partners: PartnersDep,
    session: DbSession,
    account: PartnerAccount,
    workspace_id: str,
    page: Page = 1,
    q: Search = "",
    done: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    return await _workspace_page(
        request, partners, session, account, workspace_id, page, q, notice=_DONE.get(done)
    )


@router.post("/workspaces/{workspace_id}", dependencies=[CsrfChecked])
async def rename_workspace(
    request: Request,
    partners: PartnersDep,
    session: DbSession,
    account: PartnerAccount,
    workspace_id: str,
    name: Text = "",
) -> Response:
    try:
        body = WorkspaceUpdate(name=name.strip())
    except ValidationError as exc:
        return await _workspace_page(
            request,
            partners,
            session,
            account,
            workspace_id,
            rename={"name": name},
            rename_problems=_problems(exc),
        )
    actor = account_actor(request, account)
    await partners.update_workspace(session, actor, account.tenant_id, workspace_id, body)
    return redirect(f"{PREFIX}/workspaces/{workspace_id}?done=renamed")


@router.get("/workspaces/{workspace_id}/delete")
async def delete_workspace_page(
    request: Request,
    partners: PartnersDep,
    session: DbSession,
    account: PartnerAccount,
    workspace_id: str,
) -> Response:
    ws = await partners.get_workspace(session, account.tenant_id, workspace_id)
    _, total = await partners.list_companies(
        session, account.tenant_id, ws.id, PageParams(page=1, limit=1)
    )
    return render(
        request,
        "confirm_delete.html",
        {
            "title": "Delete workspace",
            "what": f"workspace “{ws.name}”",
            "consequence": f"Its {total} compan{'y' if total == 1 else 'ies'} are deleted "
            "with it, and acting for them stops within a second. Their data is kept but "
            "reachable by nobody.",
            "action": f"{PREFIX}/workspaces/{ws.id}/delete",
            "cancel": f"{PREFIX}/workspaces/{ws.id}",
            "nav": "workspaces",
        },
    )


@router.post("/workspaces/{workspace_id}/delete", dependencies=[CsrfChecked])
async def delete_workspace(
    request: Request,
    partners: PartnersDep,
    session: DbSession,
    account: PartnerAccount,
    workspace_id: str,
) -> Response:
    actor = account_actor(request, account)
    await partners.delete_workspace(session, actor, account.tenant_id, workspace_id)
    return redirect(f"{PREFIX}/workspaces?done=deleted")


# ---- companies --------------------------------------------------------------------------------


@router.post("/workspaces/{workspace_id}/companies", dependencies=[CsrfChecked])
async def create_company(
    request: Request,
    partners: PartnersDep,
    session: DbSession,
    account: PartnerAccount,
    workspace_id: str,
    name: Text = "",
    country_code: Text = "",
    currency: Text = "",
    status: Text = "ACTIVE",
) -> Response:
    form = _company_form(name, country_code, currency, status)
    try:
        body = CompanyIn.model_validate(form)
    except ValidationError as exc:
        return await _workspace_page(
            request, partners, session, account, workspace_id, form=form, problems=_problems(exc)
        )
    actor = account_actor(request, account)
    await partners.create_company(session, actor, account.tenant_id, workspace_id, body)
    return redirect(f"{PREFIX}/workspaces/{workspace_id}?done=company-created")


def _try_keys(creds: list[Credential]) -> list[Credential]:
    """The keys "Try it" can act with: active, and holding the act-as scope."""
    return [c for c in creds if c.status == "active" and ACT_AS_SCOPE in c.scopes.split()]


async def _company_page(
    request: Request,
    partners: PartnersDep,
    session: DbSession,
    account: Account,
    ids: tuple[str, str],
    **extra: Any,
) -> Response:
    company = await partners.get_company(session, account.tenant_id, *ids)
    ws = await partners.get_workspace(session, account.tenant_id, ids[0])
    keys = _try_keys(await tenant_credentials(session, account.tenant_id))
    context = {
        "title": f"Company {company.name}",
        "workspace": WorkspaceOut.of(ws),
        "company": CompanyOut.of(company),
        "form": _company_form(company.name, company.country_code, company.currency, company.status),
        "statuses": STATUSES,
        "keys": [{"id": c.id, "name": c.name, "api_key": c.api_key} for c in keys],
        "nav": "workspaces",
    }
    context.update(extra)
    return _show(request, "company.html", context)


@router.get("/workspaces/{workspace_id}/companies/{company_id}")
async def company_page(
    request: Request,
    partners: PartnersDep,
    session: DbSession,
    account: PartnerAccount,
    workspace_id: str,
    company_id: str,
) -> Response:
    return await _company_page(request, partners, session, account, (workspace_id, company_id))


@router.post("/workspaces/{workspace_id}/companies/{company_id}", dependencies=[CsrfChecked])
async def update_company(
    request: Request,
    partners: PartnersDep,
    session: DbSession,
    account: PartnerAccount,
    workspace_id: str,
    company_id: str,
    name: Text = "",
    country_code: Text = "",
    currency: Text = "",
    status: Text = "",
) -> Response:
    ids = (workspace_id, company_id)
    form = _company_form(name, country_code, currency, status)
    try:
        body = CompanyUpdate.model_validate(form)
    except ValidationError as exc:
        return await _company_page(
            request, partners, session, account, ids, form=form, problems=_problems(exc)
        )
    actor = account_actor(request, account)
    await partners.update_company(session, actor, account.tenant_id, ids, body)
    return redirect(f"{PREFIX}/workspaces/{workspace_id}?done=company-saved")


@router.get("/workspaces/{workspace_id}/companies/{company_id}/delete")
async def delete_company_page(
    request: Request,
    partners: PartnersDep,
    session: DbSession,
    account: PartnerAccount,
    workspace_id: str,
    company_id: str,
) -> Response:
    company = await partners.get_company(session, account.tenant_id, workspace_id, company_id)
    base = f"{PREFIX}/workspaces/{company.workspace_id}/companies/{company.id}"
    return render(
        request,
        "confirm_delete.html",
        {
            "title": "Delete company",
            "what": f"company “{company.name}”",
            "consequence": "Acting for it stops within a second. Its data is kept but "
            "reachable by nobody.",
            "action": f"{base}/delete",
            "cancel": base,
            "nav": "workspaces",
        },
    )


@router.post("/workspaces/{workspace_id}/companies/{company_id}/delete", dependencies=[CsrfChecked])
async def delete_company(
    request: Request,
    partners: PartnersDep,
    session: DbSession,
    account: PartnerAccount,
    workspace_id: str,
    company_id: str,
) -> Response:
    actor = account_actor(request, account)
    await partners.delete_company(session, actor, account.tenant_id, (workspace_id, company_id))
    return redirect(f"{PREFIX}/workspaces/{workspace_id}?done=company-deleted")


@router.post("/workspaces/{workspace_id}/companies/{company_id}/try", dependencies=[CsrfChecked])
async def try_as_company(
    request: Request,
    partners: PartnersDep,
    session_tokens: SessionTokensDep,
    session: DbSession,
    account: PartnerAccount,
    workspace_id: str,
    company_id: str,
    credential_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Open the playground acting for this company, with a token of one of the tenant's keys."""
    ids = (workspace_id, company_id)
    company = await partners.get_company(session, account.tenant_id, *ids)
    problem = None
    if company.status != "ACTIVE":
        problem = "A suspended company cannot be acted for: make it active first."
    elif not credential_id:
        problem = "Key: choose one."
    else:
        cred = await owned_credential(session, account, credential_id)
        if not _try_keys([cred]):
            problem = f"Key: it is not active or does not carry {ACT_AS_SCOPE}."
    if problem:
        return await _company_page(request, partners, session, account, ids, try_problems=[problem])
    result = await session_tokens.mint_for_session(
        session, account_actor(request, account), account=account, credential_id=credential_id
    )
    acting = {"workspaceId": company.workspace_id, "companyId": company.id}
    return playground_page(request, account, result, {**acting, "companyName": company.name})
