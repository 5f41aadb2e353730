"""Workspaces and client companies of a partner tenant (DESIGN §3.7).

Every read and write is filtered by the caller's tenant, so another tenant's workspace or
company is a 404 like one that does not exist. Every write adds a ``tenancy`` event to the
change feed and notes the change (``identity.feed.note_change``): once the request commits,
the act-as view (``identity.tenancy``) is reloaded here and in every other process within a
second. A deleted company's product data stays under its id, which is never reused, so it is
reachable by nobody.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from fluide.identity import audit
from fluide.identity.audit import Actor
from fluide.identity.errors import CompanyNotFound, WorkspaceNotFound
from fluide.identity.feed import note_change
from fluide.identity.models import Company, RevocationEvent, Workspace
from fluide.identity.partners.schemas import CompanyIn, CompanyUpdate, WorkspaceIn, WorkspaceUpdate
from fluide.identity.revocation import TENANCY_EVENT
from fluide.kit.clock import Clock, system_clock
from fluide.kit.ids import new_id
from fluide.kit.pagination import PageParams
from fluide.kit.queries import contains_text, get_owned, paged


class Partners:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def _changed(
        self, session: AsyncSession, actor: Actor, action: str, tenant_id: str, **details: str
    ) -> None:
        subject = details.get("companyId") or details["workspaceId"]
        session.add(
            RevocationEvent(
                kind=TENANCY_EVENT, subject=subject, value=action[:64], created_at=system_clock()
            )
        )
        audit.record(
            session,
            self.clock,
            actor,
            action,
            tenant_id=tenant_id,
            credential_id=actor.id if actor.type == "credential" else None,
            details=details,
        )
        note_change(session)

    # ---- workspaces ---------------------------------------------------------------------------

    async def list_workspaces(
        self, session: AsyncSession, tenant_id: str, params: PageParams
    ) -> tuple[list[Workspace], int]:
        where = [contains_text(Workspace.name, params.q)] if params.q else []
        return await paged(session, Workspace, tenant_id, params, *where)

    async def get_workspace(
        self, session: AsyncSession, tenant_id: str, workspace_id: str
    ) -> Workspace:
        return await get_owned(session, Workspace, tenant_id, workspace_id, WorkspaceNotFound)

    async def create_workspace(
        self, session: AsyncSession, actor: Actor, tenant_id: str, body: WorkspaceIn
    ) -> Workspace:
        now = self.clock()
        ws = Workspace(
            id=new_id("wsp"), tenant_id=tenant_id, name=body.name, created_at=now, updated_at=now
        )
        session.add(ws)
        await session.flush()
        self._changed(session, actor, "workspace.create", tenant_id, workspaceId=ws.id)
        return ws

    async def update_workspace(
        self,
        session: AsyncSession,
        actor: Actor,
        tenant_id: str,
        workspace_id: str,
        body: WorkspaceUpdate,
    ) -> Workspace:
        ws = await self.get_workspace(session, tenant_id, workspace_id)
        if body.name is not None:
            ws.name = body.name
        ws.updated_at = self.clock()
        await session.flush()
        self._changed(session, actor, "workspace.update", tenant_id, workspaceId=ws.id)
        return ws

    async def delete_workspace(
        self, session: AsyncSession, actor: Actor, tenant_id: str, workspace_id: str
    ) -> None:
        """Delete the workspace and every company in it: acting for them stops (≤ 1 s)."""
        ws = await self.get_workspace(session, tenant_id, workspace_id)
        await session.execute(
            delete(Company).where(Company.tenant_id == tenant_id, Company.workspace_id == ws.id)
        )
        await session.delete(ws)
        await session.flush()
        self._changed(session, actor, "workspace.delete", tenant_id, workspaceId=ws.id)

    # ---- companies ----------------------------------------------------------------------------

    async def list_companies(
        self, session: AsyncSession, tenant_id: str, workspace_id: str, params: PageParams
    ) -> tuple[list[Company], int]:
        ws = await self.get_workspace(session, tenant_id, workspace_id)
        where = [Company.workspace_id == ws.id]
        if params.q:
            where.append(contains_text(Company.name, params.q))
        return await paged(session, Company, tenant_id, params, *where)

    async def get_company(
        self, session: AsyncSession, tenant_id: str, workspace_id: str, company_id: str
    ) -> Company:
        ws = await self.get_workspace(session, tenant_id, workspace_id)
        company = await session.scalar(
            select(Company).where(
                Company.tenant_id == tenant_id,
                Company.workspace_id == ws.id,
                Company.id == company_id,
            )
        )
        if company is None:
            raise CompanyNotFound
        return company

    async def create_company(
        self,
        session: AsyncSession,
        actor: Actor,
        tenant_id: str,
        workspace_id: str,
        body: CompanyIn,
    ) -> Company:
        ws = await self.get_workspace(session, tenant_id, workspace_id)
        now = self.clock()
        company = Company(
            id=new_id("cmp"),
            tenant_id=tenant_id,
            workspace_id=ws.id,
            name=body.name,
            country_code=body.country_code,
            currency=body.currency,
            status=body.status,
            created_at=now,
            updated_at=now,
        )
        session.add(company)
        await session.flush()
        self._changed(
            session, actor, "company.create", tenant_id, workspaceId=ws.id, companyId=company.id
        )
        return company

    async def update_company(
        self,
        session: AsyncSession,
        actor: Actor,
        tenant_id: str,
        ids: tuple[str, str],
        body: CompanyUpdate,
    ) -> Company:
        company = await self.get_company(session, tenant_id, *ids)
        for field in ("name", "country_code", "currency", "status"):
            value = getattr(body, field)
            if value is not None:
                setattr(company, field, value)
        company.updated_at = self.clock()
        await session.flush()
        self._changed(
            session,
            actor,
            "company.update",
            tenant_id,
            workspaceId=company.workspace_id,
            companyId=company.id,
        )
        return company

    async def delete_company(
        self, session: AsyncSession, actor: Actor, tenant_id: str, ids: tuple[str, str]
    ) -> None:
        company = await self.get_company(session, tenant_id, *ids)
        await session.delete(company)
        await session.flush()
        self._changed(
            session,
            actor,
            "company.delete",
            tenant_id,
            workspaceId=company.workspace_id,
            companyId=company.id,
        )
