"""Identity's public routes (DESIGN §3.4): the service root, its health, the JWKS."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

import fluide
from fluide.identity.request import identity_state
from fluide.identity.schemas import Health, ServiceRoot
from fluide.kit.routing import StaticRouter
from fluide.kit.uow import get_infra

# Fixed paths only: a product request skips these routes with one set lookup (kit.routing).
router = StaticRouter()


@router.get("/api/v1", operation_id="service.root", response_model=ServiceRoot, tags=["Service"])
async def service_root() -> ServiceRoot:
    """Service root: what this is and where to start."""
    return ServiceRoot(
        service="fluide-connect",
        version=fluide.__version__,
        docs="/docs",
        openapi="/openapi.json",
        token_endpoint="/api/v1/authorize/token",  # noqa: S106
    )


@router.get(
    "/api/v1/health",
    operation_id="service.health",
    response_model=Health,
    tags=["Service"],
    responses={503: {"model": Health}},
)
async def health(request: Request) -> Response:
    """Liveness of the auth service with its database status."""
    # The infrastructure's background probe (kit.probe), at most ~0.5 s old: no query per call.
    # A load balancer's target, like the products' health: the four possible bodies are
    # serialised once, and the route takes no dependency (the request is enough).
    db_up = get_infra(request).probe.database() == "up"
    return Response(
        _HEALTH_BODIES[db_up, identity_state(request).keyset.signing_key is not None],
        status_code=200 if db_up else 503,
        media_type="application/json",
    )


_HEALTH_BODIES = {
    (db, key): Health.body("fluide-auth", db, signingKey=key)
    for db in (True, False)
    for key in (True, False)
}


JWKS_MEDIA_TYPE = "application/jwk-set+json"  # RFC 7517 §8.5.1
JWKS_MAX_AGE = 60  # seconds a cache may hold the set (keyring: a key is published longer first)
_JWKS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The JSON Web Key Set (RFC 7517), with an `ETag`",
        "content": {JWKS_MEDIA_TYPE: {"schema": {"type": "object"}}},
    },
    304: {"description": "Not modified (`If-None-Match` names the current `ETag`)"},
}


@router.get(
    "/.well-known/jwks.json",
    operation_id="service.jwks",
    tags=["Service"],
    response_class=Response,
    responses=_JWKS_RESPONSES,
)
@router.get(
    "/api/v1/auth/.well-known/jwks.json",
    operation_id="accounts.jwks",
    tags=["Service"],
    response_class=Response,
    responses=_JWKS_RESPONSES,
)
async def jwks(request: Request) -> Response:
    """Public keys that verify Fluide access tokens (next, active and retired keys)."""
    body, etag = identity_state(request).keyset.jwks_document
    headers = {"Cache-Control": f"public, max-age={JWKS_MAX_AGE}", "ETag": etag}
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=JWKS_MEDIA_TYPE, headers=headers)


def _matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 §13.1.2 (weak comparison): ``*`` or one of the listed tags is ours."""
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags
