"""Workspace and client-company management (DESIGN §3.7), on the developer session: Bearer +
X-Fluide-Client-Id (+ X-Fluide-Api-Key if sent, and then it must match), like
``/authorize/current``, with a token that carries ``partner:client:act-as`` (only a partner
tenant's credentials can hold it; anything else is 403 ``INSUFFICIENT_SCOPE``, so a business
tenant or a narrowed token manages nothing). Everything is the token's tenant's: another
tenant's workspace or company is a 404. Nothing here commits (``kit.uow``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from fluide.identity.audit import Actor
from fluide.identity.errors import InsufficientScope
from fluide.identity.partners.deps import PartnersDep
from fluide.identity.partners.schemas import (
    CompanyIn,
    CompanyOut,
    CompanyUpdate,
    WorkspaceIn,
    WorkspaceOut,
    WorkspaceUpdate,
)
from fluide.identity.principal import ACT_AS_SCOPE
from fluide.identity.request import PrincipalDep, principal_actor
from fluide.kit.pagination import Page, PageDep
from fluide.kit.uow import DbSession

router = APIRouter(prefix="/api/v1/workspaces", tags=["Partners"])


class Caller:
    """The partner calling: its tenant, and who to write in the audit log."""

    __slots__ = ("actor", "tenant_id")

    def __init__(self, tenant_id: str, actor: Actor) -> None:
        self.tenant_id, self.actor = tenant_id, actor


async def _partner(request: Request, principal: PrincipalDep) -> Caller:
    if ACT_AS_SCOPE not in principal.scopes:
        raise InsufficientScope(ACT_AS_SCOPE)
    return Caller(principal.tenant_id, principal_actor(request, principal))


PartnerDep = Annotated[Caller, Depends(_partner)]


@router.get("", operation_id="workspaces.list", response_model=Page[WorkspaceOut])
async def list_workspaces(
    caller: PartnerDep, partners: PartnersDep, session: DbSession, params: PageDep
) -> Page[WorkspaceOut]:
    """List your workspaces (filter by `q` on the name)."""
    rows, total = await partners.list_workspaces(session, caller.tenant_id, params)
    return Page.of([WorkspaceOut.of(w) for w in rows], total, params)


@router.post("", operation_id="workspaces.create", status_code=201, response_model=WorkspaceOut)
async def create_workspace(
    body: WorkspaceIn, caller: PartnerDep, partners: PartnersDep, session: DbSession
) -> WorkspaceOut:
    """Create a workspace."""
    ws = await partners.create_workspace(session, caller.actor, caller.tenant_id, body)
    return WorkspaceOut.of(ws)


@router.get("/{workspace_id}", operation_id="workspaces.get", response_model=WorkspaceOut)
async def get_workspace(
    workspace_id: str, caller: PartnerDep, partners: PartnersDep, session: DbSession
) -> WorkspaceOut:
    """One of your workspaces."""
    return WorkspaceOut.of(await partners.get_workspace(session, caller.tenant_id, workspace_id))


@router.patch("/{workspace_id}", operation_id="workspaces.update", response_model=WorkspaceOut)
async def update_workspace(
    workspace_id: str,
    body: WorkspaceUpdate,
    caller: PartnerDep,
    partners: PartnersDep,
    session: DbSession,
) -> WorkspaceOut:
    """Rename a workspace."""
    ws = await partners.update_workspace(
        session, caller.actor, caller.tenant_id, workspace_id, body
    )
    return WorkspaceOut.of(ws)


@router.delete("/{workspace_id}", operation_id="workspaces.delete", status_code=204)
async def delete_workspace(
    workspace_id: str, caller: PartnerDep, partners: PartnersDep, session: DbSession
) -> Response:
    """Delete a workspace and its companies; acting for them stops within a second."""
    await partners.delete_workspace(session, caller.actor, caller.tenant_id, workspace_id)
    return Response(status_code=204)


@router.get(
    "/{workspace_id}/companies",
    operation_id="workspaces.companies.list",
    response_model=Page[CompanyOut],
)
async def list_companies(
    workspace_id: str,
    caller: PartnerDep,
    partners: PartnersDep,
    session: DbSession,
    params: PageDep,
) -> Page[CompanyOut]:
    """List a workspace's client companies (filter by `q` on the name)."""
    rows, total = await partners.list_companies(session, caller.tenant_id, workspace_id, params)
    return Page.of([CompanyOut.of(c) for c in rows], total, params)


@router.post(
    "/{workspace_id}/companies",
    operation_id="workspaces.companies.create",
    status_code=201,
    response_model=CompanyOut,
)
async def create_company(
    workspace_id: str,
    body: CompanyIn,
    caller: PartnerDep,
    partners: PartnersDep,
    session: DbSession,
) -> CompanyOut:
    """Add a client company to a workspace."""
    company = await partners.create_company(
        session, caller.actor, caller.tenant_id, workspace_id, body
    )
    return CompanyOut.of(company)


@router.get(
    "/{workspace_id}/companies/{company_id}",
    operation_id="workspaces.companies.get",
    response_model=CompanyOut,
)
async def get_company(
    workspace_id: str,
    company_id: str,
    caller: PartnerDep,
    partners: PartnersDep,
    session: DbSession,
) -> CompanyOut:
    """One client company of a workspace."""
    company = await partners.get_company(session, caller.tenant_id, workspace_id, company_id)
    return CompanyOut.of(company)


@router.patch(
    "/{workspace_id}/companies/{company_id}",
    operation_id="workspaces.companies.update",
    response_model=CompanyOut,
)
async def update_company(
    workspace_id: str,
    company_id: str,
    body: CompanyUpdate,
    caller: PartnerDep,
    partners: PartnersDep,
    session: DbSession,
) -> CompanyOut:
    """Change a company (a `SUSPENDED` one cannot be acted for)."""
    company = await partners.update_company(
        session, caller.actor, caller.tenant_id, (workspace_id, company_id), body
    )
    return CompanyOut.of(company)


@router.delete(
    "/{workspace_id}/companies/{company_id}",
    operation_id="workspaces.companies.delete",
    status_code=204,
)
async def delete_company(
    workspace_id: str,
    company_id: str,
    caller: PartnerDep,
    partners: PartnersDep,
    session: DbSession,
) -> Response:
    """Delete a company; acting for it stops within a second, and its data is reachable by
    nobody."""
    await partners.delete_company(
        session, caller.actor, caller.tenant_id, (workspace_id, company_id)
    )
    return Response(status_code=204)
