"""Guarded health checks for the five products.

The database status comes from the gateway's background probe (at most ~0.5 s old), so a
health check never queries the database itself.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from fluide.gateway import guarded_router, require_scope
from fluide.identity.schemas import Health

READ_SCOPE = {
    "hr": "hr:read",
    "payroll": "payroll:read",
    "pay": "pay:read",
    "books": "books:read",
    "utils": "utils:read",
}
_OK = {"database": "up"}
_DOWN = {"database": "down"}


def router(product: str) -> APIRouter:
    r = guarded_router(product)
    service = f"fluide-{product}"

    @r.get(
        "/health",
        response_model=Health,
        responses={503: {"model": Health}},
        dependencies=[require_scope(READ_SCOPE[product])],
        operation_id=f"{product}_health",
    )
    async def health(request: Request, response: Response) -> Health:
        """Health of this product API and its database."""
        if request.app.state.gateway.probe.database() == "up":
            return Health(status="ok", service=service, checks=_OK)
        response.status_code = 503
        return Health(status="error", service=service, checks=_DOWN)

    return r
