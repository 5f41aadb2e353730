"""Guarded health checks for the five products."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sqlalchemy import text

from fluide.gateway import guarded_router, require_scope
from fluide.identity.schemas import Health
from fluide.runtime import get_runtime

READ_SCOPE = {
    "hr": "hr:read",
    "payroll": "payroll:read",
    "pay": "pay:read",
    "books": "books:read",
    "utils": "utils:read",
}


def router(product: str) -> APIRouter:
    r = guarded_router(product)

    @r.get(
        "/health",
        response_model=Health,
        responses={503: {"model": Health}},
        dependencies=[require_scope(READ_SCOPE[product])],
        operation_id=f"{product}_health",
    )
    async def health(request: Request, response: Response) -> Health:
        """Health of this product API and its database."""
        rt = get_runtime(request)
        try:
            async with rt.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            db = "up"
        except Exception:
            db = "down"
        if db != "up":
            response.status_code = 503
        return Health(
            status="ok" if db == "up" else "error",
            service=f"fluide-{product}",
            checks={"database": db},
        )

    return r
