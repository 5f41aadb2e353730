"""Guarded health checks for the five products.

The database status comes from the infrastructure's background probe (``kit.probe``; about half a
second old at most while the database answers), so a health check never queries the database
itself. The two possible bodies are serialised once per product: the route is a load
balancer's target.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from fluide import catalog
from fluide.gateway import guarded_router, require_scope
from fluide.identity.schemas import Health
from fluide.kit.uow import get_infra


def router(product: str) -> APIRouter:
    r = guarded_router(product)
    service = f"fluide-{product}"
    ok, down = Health.body(service, True), Health.body(service, False)

    @r.get(
        "/health",
        response_model=Health,
        responses={503: {"model": Health}},
        dependencies=[require_scope(catalog.product(product).read_scope)],
        operation_id=f"{product}.health",
    )
    async def health(request: Request) -> Response:
        """Health of this product API and its database."""
        if get_infra(request).probe.database() == "up":
            return Response(ok, media_type="application/json")
        return Response(down, status_code=503, media_type="application/json")

    return r
