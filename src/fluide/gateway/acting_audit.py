"""The audit log's mark of act-as (DESIGN §3.7): every product write a partner makes while
acting for a client company is an audit event of the partner's tenant, with the workspace and
company ids in its details.

Products do not audit their own writes; this is the one place that does, for acting calls
only. The event's action is the route's operationId (``hr.employees.create``), its details
``workspaceId``, ``companyId``, ``method``, ``route`` (the template, never the path with its
ids or a query string) and ``status``. It is written once the route has answered with success:
the route's work has committed (in the request's unit of work, or an idempotent POST's own), so a
write that failed or was refused changed nothing and leaves no event. One insert, in its own
transaction, for these calls only: a call that does not act, and every read, costs nothing here,
and the guard itself reads no database. A failed insert is logged and cannot change the answer,
already sent.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import Scope

from fluide.identity import audit
from fluide.identity.audit import Actor
from fluide.identity.principal import Principal
from fluide.kit.clock import Clock
from fluide.kit.faults import OUTAGES, fault_of
from fluide.kit.proxies import TrustedProxies, scope_client_address

log = logging.getLogger("fluide.gateway")
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ActingWrites:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Clock,
        proxies: TrustedProxies | None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.clock = clock
        self.proxies = proxies

    async def record(self, scope: Scope, principal: Principal, template: str, status: int) -> None:
        """Write the event of one successful write made while acting; never raises."""
        route = scope.get("route")
        operation = getattr(route, "operation_id", None) or template
        state = scope.get("state") or {}
        rid = state.get("request_id")
        actor = Actor(
            "credential",
            principal.credential_id,
            scope_client_address(scope, self.proxies),
            rid if isinstance(rid, str) else None,
        )
        details = {
            "workspaceId": principal.workspace_id,
            "companyId": principal.company_id,
            "method": scope["method"],
            "route": template,
            "status": status,
        }
        try:
            async with self.sessionmaker() as session, session.begin():
                audit.record(
                    session,
                    self.clock,
                    actor,
                    operation[:64],
                    tenant_id=principal.tenant_id,
                    credential_id=principal.credential_id,
                    details=details,
                )
        except Exception as exc:
            fault = fault_of(exc)
            if fault is not None:  # an outage: one warning for all of it (kit.faults)
                OUTAGES.down(fault.dependency, exc)
            else:
                log.error(
                    "act-as audit event not written", extra={"error_type": type(exc).__name__}
                )
