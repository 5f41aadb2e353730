"""The append-only audit log. Rows never hold a secret value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from fluide.identity.models import AuditEvent
from fluide.kit import uow
from fluide.kit.clock import Clock
from fluide.kit.pagination import PageParams
from fluide.kit.queries import paged


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts, from where, in which request."""

    type: str  # "account" | "credential" | "system" | "anonymous"
    id: str | None
    source_ip: str | None
    request_id: str | None


SYSTEM = Actor("system", None, None, None)


def row_values(
    clock: Clock,
    actor: Actor,
    action: str,
    *,
    outcome: str = "success",
    code: str | None = None,
    tenant_id: str | None = None,
    credential_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "occurred_at": clock(),
        "action": action,
        "outcome": outcome,
        "code": code,
        "actor_type": actor.type,
        "actor_id": actor.id,
        "tenant_id": tenant_id,
        "credential_id": credential_id,
        "source_ip": actor.source_ip,
        "request_id": actor.request_id,
        "details": details,
    }


def record(session: AsyncSession, clock: Clock, actor: Actor, action: str, **kw: Any) -> None:
    """Add a row to the caller's transaction: it lands or not with the work it describes."""
    session.add(AuditEvent(**row_values(clock, actor, action, **kw)))


async def record_denial(
    session: AsyncSession,
    clock: Clock,
    actor: Actor,
    action: str,
    code: str,
    *,
    tenant_id: str | None = None,
    credential_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Write a denial that must outlive the failing request.

    The request's own work is rolled back first, then only the audit row is added and kept:
    the unit of work (``kit.uow``) commits it when the request ends, failing, in a transaction
    of its own on the same connection (a second connection would wait on SQLite's write lock).
    """
    await uow.start_over(session)
    record(
        session,
        clock,
        actor,
        action,
        outcome="denied",
        code=code,
        tenant_id=tenant_id,
        credential_id=credential_id,
        details=details,
    )
    uow.keep(session)


async def page_of_events(
    session: AsyncSession,
    tenant_id: str,
    params: PageParams,
    *,
    action: str | None = None,
    outcome: str | None = None,
    credential_id: str | None = None,
) -> tuple[list[AuditEvent], int]:
    """One page of a tenant's audit events, newest first, with the optional filters (empty or
    ``None`` = any), and how many match in all: the API's and the dashboard's audit views."""
    filters = [
        column == value
        for column, value in (
            (AuditEvent.action, action),
            (AuditEvent.outcome, outcome),
            (AuditEvent.credential_id, credential_id),
        )
        if value
    ]
    return await paged(
        session, AuditEvent, tenant_id, params, *filters, order_by=(AuditEvent.id.desc(),)
    )
