"""Identity's public routes (DESIGN §3.4, §3.8): the service root, its health, liveness and
readiness, the JWKS.

``/livez`` answers from the process alone (it touches no dependency: a slow database must not
get the process restarted). ``/readyz`` and ``/api/v1/health`` read the infrastructure's
background probes (``kit.probe``: the database, and Redis when configured) and identity's key
set, so none of them queries anything per call; each possible body is serialised once.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from fastapi import Request, Response

import fluide
from fluide.identity.request import identity_state
from fluide.identity.schemas import Health, Liveness, Readiness, ServiceRoot
from fluide.kit.routing import StaticRouter
from fluide.kit.uow import get_infra
from fluide.settings import JWKS_MAX_AGE_SECONDS

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
    """Health of the auth service: its database, signing key and (when configured) Redis."""
    # The infrastructure's background probes (kit.probe), at most ~0.5 s old: no query per call.
    # A load balancer's target, like the products' health: 503 only when the database is down
    # (readiness, below, also counts the key and Redis), and the route takes no dependency.
    db_up, key_up, redis_up = _states(request)
    return Response(
        _health_body(db_up, key_up, redis_up),
        status_code=200 if db_up else 503,
        media_type="application/json",
    )


@router.get(
    "/livez",
    operation_id="service.livez",
    response_model=Liveness,
    tags=["Service"],
)
async def livez() -> Response:
    """Liveness: the process answers (no dependency is checked)."""
    return Response(_LIVE, media_type="application/json", headers=_NO_STORE)


@router.get(
    "/readyz",
    operation_id="service.readyz",
    response_model=Readiness,
    tags=["Service"],
    responses={503: {"model": Readiness}},
)
async def readyz(request: Request) -> Response:
    """Readiness: the database, the signing key and (when configured) Redis; 503 naming what is
    down."""
    db_up, key_up, redis_up = _states(request)
    ready = db_up and key_up and redis_up is not False
    return Response(
        _ready_body(db_up, key_up, redis_up),
        status_code=200 if ready else 503,
        media_type="application/json",
        headers=_NO_STORE,
    )


_LIVE = Liveness(status="ok").model_dump_json().encode()
_NO_STORE = {"Cache-Control": "no-store"}


def _states(request: Request) -> tuple[bool, bool, bool | None]:
    """Database up, signing key loaded, Redis up (``None``: Redis not configured)."""
    infra = get_infra(request)
    redis = infra.redis_probe
    return (
        infra.probe.database() == "up",
        identity_state(request).keyset.signing_key is not None,
        None if redis is None else redis.status() == "up",
    )


@cache
def _health_body(db: bool, key: bool, redis: bool | None) -> bytes:
    if redis is None:
        return Health.body("fluide-auth", db, signingKey=key)
    return Health.body("fluide-auth", db, signingKey=key, redis=redis)


@cache
def _ready_body(db: bool, key: bool, redis: bool | None) -> bytes:
    if redis is None:
        return Readiness.body(database=db, signingKey=key)
    return Readiness.body(database=db, signingKey=key, redis=redis)


JWKS_MEDIA_TYPE = "application/jwk-set+json"  # RFC 7517 §8.5.1
JWKS_MAX_AGE = JWKS_MAX_AGE_SECONDS  # a key is published longer than this before it signs
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
