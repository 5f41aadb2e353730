"""The in-memory view of partner tenancy (DESIGN §3.7): which workspace is whose, and which
active client company is in which workspace.

The guard's act-as check (``identity.partners.acting``) reads it on every product call that
carries the act-as headers, so the hot path reads no database. It is loaded at start and
reloaded whole by the change feed (``identity.feed``) whenever a ``tenancy`` event it has not
seen appears (a workspace or company created, changed or deleted): within one poll (≤ 1 s)
everywhere, at once in the process that made the change and in every process nudged through
Redis. Fail closed: what the view does not hold cannot be acted for.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fluide.identity.models import Company, Workspace

ACTIVE = "ACTIVE"


class TenancyView:
    __slots__ = ("companies", "workspaces")

    def __init__(self) -> None:
        self.workspaces: dict[str, str] = {}  # workspace id → its tenant's id
        self.companies: dict[str, str] = {}  # ACTIVE company id → its workspace's id

    def __repr__(self) -> str:
        return f"TenancyView(workspaces={len(self.workspaces)}, companies={len(self.companies)})"

    def workspace_of(self, tenant_id: str, workspace_id: str) -> bool:
        """Whether ``workspace_id`` is one of ``tenant_id``'s workspaces."""
        owner = self.workspaces.get(workspace_id)
        return owner is not None and owner == tenant_id

    def company_in(self, workspace_id: str, company_id: str) -> bool:
        """Whether ``company_id`` is an active company of ``workspace_id``."""
        holder = self.companies.get(company_id)
        return holder is not None and holder == workspace_id

    async def load(self, session: AsyncSession) -> None:
        """Read the whole view (at start, and after a tenancy change); replaced in one step."""
        workspaces = {
            wid: tid
            for wid, tid in await session.execute(select(Workspace.id, Workspace.tenant_id))
        }
        rows = await session.execute(
            select(Company.id, Company.workspace_id, Company.tenant_id).where(
                Company.status == ACTIVE
            )
        )
        # A company is only trusted when its own tenant is its workspace's: both are written
        # together, this is a second lock on the same door.
        companies = {cid: wid for cid, wid, tid in rows if workspaces.get(wid) == tid}
        self.workspaces, self.companies = workspaces, companies
