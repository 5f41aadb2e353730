"""Identity routes: token exchange, developer session, accounts, credentials, JWKS."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Body, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

import fluide
from fluide.identity import accounts, audit, credentials, signin_limits, tokens
from fluide.identity.audit import Actor
from fluide.identity.deps import (
    AccountSessionDep,
    ActorDep,
    PrincipalDep,
    principal_actor,
)
from fluide.identity.schemas import (
    AccountOut,
    AuditEventOut,
    AuthContext,
    CredentialCreate,
    CredentialOut,
    Health,
    IssuedCredentialOut,
    ResendRequest,
    RotateRequest,
    RotateResponse,
    ServiceRoot,
    SessionOut,
    SignInRequest,
    SignUpRequest,
    SignUpResponse,
    TokenRequest,
    TokenResponse,
    VerifyRequest,
    VerifyResponse,
)
from fluide.kit.errors import (
    AppError,
    RateLimited,
    app_error_response,
    send_json,
    validation_error_response,
)
from fluide.kit.pagination import Page, PageDep
from fluide.kit.proxies import FORWARDED_FOR, client_address
from fluide.kit.routing import StaticRouter
from fluide.runtime import DbSession, RuntimeDep, get_runtime

# Fixed paths only: a product request skips these routes with one set lookup (kit.routing).
public = StaticRouter()
developer = APIRouter(prefix="/api/v1", tags=["Authorize"])
auth = APIRouter(prefix="/api/v1/auth", tags=["Accounts"])


# ---- public -----------------------------------------------------------------------------------


@public.get("/api/v1", response_model=ServiceRoot, tags=["Service"])
async def service_root() -> ServiceRoot:
    """Service root: what this is and where to start."""
    return ServiceRoot(
        service="fluide-connect",
        version=fluide.__version__,
        docs="/docs",
        openapi="/openapi.json",
        token_endpoint="/api/v1/authorize/token",  # noqa: S106
    )


@public.get(
    "/api/v1/health", response_model=Health, tags=["Service"], responses={503: {"model": Health}}
)
async def health(rt: RuntimeDep) -> Response:
    """Liveness of the auth service with its database status."""
    # The runtime's background probe (kit.probe), at most ~0.5 s old: no query per call. A
    # load balancer's target, like the products' health: the four possible bodies are
    # serialised once.
    db_up = rt.probe.database() == "up"
    return Response(
        _HEALTH_BODIES[db_up, rt.keyset.signing_key is not None],
        status_code=200 if db_up else 503,
        media_type="application/json",
    )


_HEALTH_BODIES = {
    (db, key): Health.body("fluide-auth", db, signingKey=key)
    for db in (True, False)
    for key in (True, False)
}


@public.get("/.well-known/jwks.json", tags=["Service"])
@public.get("/api/v1/auth/.well-known/jwks.json", tags=["Service"])
async def jwks(rt: RuntimeDep, response: Response) -> dict[str, Any]:
    """Public keys that verify Fluide access tokens (next, active and retired keys)."""
    response.headers["Cache-Control"] = "public, max-age=60"
    return rt.keyset.jwks


# ---- token exchange and developer session ------------------------------------------------------


# The exchange has its own router: its route documents the operation (and serves it where
# ExchangeFastPath, below, is not installed).
exchange = APIRouter(prefix="/api/v1", tags=["Authorize"])
_EXCHANGE_BODY = {
    "requestBody": {
        "content": {
            "application/json": {
                "schema": {
                    "anyOf": [{"$ref": "#/components/schemas/TokenRequest"}, {"type": "null"}],
                    "title": "Body",
                }
            }
        }
    }
}


@exchange.post("/authorize/token", response_model=TokenResponse, openapi_extra=_EXCHANGE_BODY)
@exchange.post(
    "/developer-access/token",
    response_model=TokenResponse,
    openapi_extra=_EXCHANGE_BODY,
    include_in_schema=False,
)
async def exchange_token(request: Request) -> Response:
    """Exchange an API key and secret for a short-lived access token."""
    # No dependencies and no database session: the exchange reads through the credential
    # snapshot and writes through group commit; the body (optional, usually empty: the headers
    # carry the values) is read here and the answer serialised directly. In the app this runs
    # from ExchangeFastPath, ahead of routing; the route documents it (and serves it if the
    # middleware is not installed).
    return Response(await _exchange(request), media_type="application/json", headers=_NO_STORE)


# The request headers the exchange reads, picked out of the raw list in one pass (the first of
# each, as Starlette's ``Headers.get`` would; ASGI servers send names in lower case), except
# ``X-Forwarded-For``: all of them, joined in order (kit.proxies).
_EXCHANGE_HEADERS = {
    b"x-fluide-api-key": "key",
    b"x-fluide-api-secret": "secret",
    b"x-fluide-client-id": "client",
    b"x-fluide-scope": "scope",
    FORWARDED_FOR: "forwarded",
}


async def _exchange(request: Request) -> bytes:
    """The exchange's JSON answer, or the AppError to answer with."""
    scope = request.scope
    rt = get_runtime(request)
    h: dict[str, str] = {}
    for name, value in scope["headers"]:
        field = _EXCHANGE_HEADERS.get(name)
        if field is not None:
            if field not in h:
                h[field] = value.decode("latin-1")
            elif field == "forwarded":
                h[field] += "," + value.decode("latin-1")
    body = await _token_request(request)
    peer = scope.get("client")
    ip = client_address(str(peer[0]) if peer else None, h.get("forwarded"), rt.proxies)
    state = scope.get("state")
    actor = Actor("anonymous", None, ip, state.get("request_id") if state else None)
    result = await tokens.exchange(
        rt,
        actor,
        api_key=h.get("key") or body.api_key,
        api_secret=h.get("secret") or body.api_secret,
        client_id=h.get("client") or body.client_id,
        scope=h.get("scope") or body.scope,
    )
    return orjson.dumps(tokens.exchange_body(result))


# path → its route: the fast path records it in the scope, as routing would (metrics use it).
_EXCHANGE_ROUTES = {route.path: route for route in exchange.routes if isinstance(route, APIRoute)}


class ExchangeFastPath:
    """Serve ``POST /api/v1/authorize/token`` without FastAPI's routing and exception layers.

    A pure ASGI middleware; the app (``fluide.app.FluideApp``) runs it in a lane of its own,
    behind the same request-id, input-limit and gateway middlewares as every other request (so
    ids, limits and metrics still apply), and ahead of FastAPI's and Starlette's own layers:
    the exchange is the hottest write path, and the router, the route wrapper, the dependency
    machinery and those layers cost more than half of its CPU while doing nothing for it.
    Errors get the same envelope as everywhere else (kit.errors).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    @staticmethod
    def serves(scope: Scope) -> bool:
        return (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] in _EXCHANGE_ROUTES
            and not scope.get("root_path")
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.serves(scope):
            await self.app(scope, receive, send)
            return
        scope["route"] = _EXCHANGE_ROUTES[scope["path"]]
        request = Request(scope, receive)
        error: Response
        try:
            body = await _exchange(request)
        except AppError as exc:
            error = app_error_response(request, exc)
        except RequestValidationError as exc:
            error = validation_error_response(request, exc)
        else:
            # What exchange_token's Response would send, without building one.
            await send_json(send, 200, body, _NO_STORE_RAW)
            return
        await error(scope, receive, send)


async def _token_request(request: Request) -> TokenRequest:
    raw = await request.body()
    if not raw.strip() or raw.strip() == b"null":
        return _NO_BODY
    try:
        return TokenRequest.model_validate_json(raw)
    except ValidationError as exc:
        # The same 400 VALIDATION_FAILED envelope as any other body (kit.errors); input values
        # are never echoed.
        raise RequestValidationError(exc.errors(include_url=False, include_input=False)) from None


_NO_BODY = TokenRequest()
_NO_STORE = {"Cache-Control": "no-store"}
_NO_STORE_RAW = ((b"cache-control", b"no-store"),)


@developer.get("/authorize/current", response_model=CredentialOut)
@developer.get("/developer-access/current", response_model=CredentialOut, include_in_schema=False)
async def current_credential(principal: PrincipalDep, session: DbSession) -> CredentialOut:
    """Metadata of the credential bound to the token (never the secret)."""
    cred = await credentials.get_for_tenant(session, principal.tenant_id, principal.credential_id)
    return CredentialOut.of(cred)


@developer.post("/authorize/rotate-secret", response_model=RotateResponse)
@developer.post(
    "/developer-access/rotate-secret", response_model=RotateResponse, include_in_schema=False
)
async def rotate_secret(
    request: Request,
    response: Response,
    principal: PrincipalDep,
    rt: RuntimeDep,
    session: DbSession,
    body: RotateRequest | None = Body(None),
) -> RotateResponse:
    """Issue a new secret (shown once); choose how long the old one keeps working."""
    rotation = await credentials.rotate_secret(
        session,
        rt.hasher,
        rt.clock,
        principal_actor(request, principal),
        tenant_id=principal.tenant_id,
        credential_id=principal.credential_id,
        grace_seconds=(body or RotateRequest()).grace_seconds,
        caller_generation=principal.generation,
    )
    await session.commit()
    await rt.changed()
    response.headers["Cache-Control"] = "no-store"
    return RotateResponse(
        api_key=rotation.credential.api_key,
        api_secret=rotation.api_secret,
        rotated_at=rotation.rotated_at,
        previous_secret_expires_at=rotation.previous_secret_expires_at,
    )


@developer.post("/authorize/revoke", status_code=204)
async def revoke_token(
    request: Request, principal: PrincipalDep, rt: RuntimeDep, session: DbSession
) -> Response:
    """Revoke the presented access token (sign-out)."""
    await tokens.revoke_token(rt, session, principal_actor(request, principal), principal)
    await session.commit()
    await rt.changed()
    return Response(status_code=204)


@developer.get("/auth-context/{jti}", response_model=AuthContext)
async def auth_context(
    jti: str, principal: PrincipalDep, rt: RuntimeDep, session: DbSession
) -> dict[str, Any]:
    """Context of one of your credential's tokens: scopes, times and status."""
    return await tokens.auth_context(rt, session, principal, jti)


# ---- accounts ---------------------------------------------------------------------------------


@auth.post("/signup", response_model=SignUpResponse, status_code=201)
async def sign_up(
    body: SignUpRequest, rt: RuntimeDep, session: DbSession, actor: ActorDep
) -> SignUpResponse:
    """Create a developer account; a 6-digit code is emailed to verify it."""
    account, code = await accounts.sign_up(
        rt, session, actor, email=body.email, password=body.password, tenant_name=body.tenant_name
    )
    await session.commit()
    await accounts.send_verification(rt, account.email, code)
    return SignUpResponse(account_id=account.id, email=account.email)


@auth.post("/verify/resend", status_code=202)
async def resend_code(body: ResendRequest, rt: RuntimeDep, session: DbSession) -> Response:
    """Email a fresh verification code (always 202: whether the email exists is not revealed)."""
    decision = await rt.limiter.hit("5/hour", "resend", body.email.strip().lower()[:320])
    if not decision.allowed:
        raise RateLimited(decision.retry_after)
    code = await accounts.resend_code(rt, session, body.email)
    await session.commit()
    if code is not None:
        await accounts.send_verification(rt, accounts.normalise_email(body.email), code)
    return Response(status_code=202)


@auth.post("/verify", response_model=VerifyResponse)
async def verify(
    body: VerifyRequest, rt: RuntimeDep, session: DbSession, response: Response, actor: ActorDep
) -> VerifyResponse:
    """Verify the email with its code; the first time, returns your API key and one-time secret."""
    result = await accounts.verify_email(rt, session, actor, email=body.email, code=body.code)
    response.headers["Cache-Control"] = "no-store"
    issued = None
    if result.issued is not None:
        issued = IssuedCredentialOut(
            **CredentialOut.of(result.issued.credential).model_dump(),
            api_secret=result.issued.api_secret,
        )
    return VerifyResponse(
        account_id=result.account.id, tenant_id=result.account.tenant_id, credential=issued
    )


@auth.post("/signin", response_model=SessionOut)
async def sign_in(
    body: SignInRequest, rt: RuntimeDep, session: DbSession, actor: ActorDep, response: Response
) -> SessionOut:
    """Sign in with email and password; returns a session token for the account routes."""
    signed = await signin_limits.sign_in(
        rt, session, actor, email=body.email, password=body.password
    )
    response.headers["Cache-Control"] = "no-store"
    return SessionOut(
        session_token=signed.token,
        expires_at=signed.expires_at,
        account_id=signed.account.id,
        tenant_id=signed.account.tenant_id,
    )


@auth.post("/signout", status_code=204)
async def sign_out(
    current: AccountSessionDep, rt: RuntimeDep, session: DbSession, actor: ActorDep
) -> Response:
    """End the current account session."""
    account, sess = current
    await accounts.sign_out(rt, session, _as_account(actor, account.id), account, sess)
    return Response(status_code=204)


@auth.get("/me", response_model=AccountOut)
async def me(current: AccountSessionDep) -> AccountOut:
    """The signed-in account."""
    account, _ = current
    return AccountOut(
        account_id=account.id,
        email=account.email,
        tenant_id=account.tenant_id,
        email_verified_at=account.email_verified_at,
    )


def _as_account(actor: Actor, account_id: str) -> Actor:
    return Actor("account", account_id, actor.source_ip, actor.request_id)


@auth.get("/credentials", response_model=Page[CredentialOut])
async def list_credentials(
    current: AccountSessionDep, session: DbSession, params: PageDep
) -> Page[CredentialOut]:
    """Every API credential of your tenant."""
    account, _ = current
    rows, total = await credentials.list_for_tenant(session, account.tenant_id, params)
    return Page.of([CredentialOut.of(c) for c in rows], total, params)


@auth.post("/credentials", response_model=IssuedCredentialOut, status_code=201)
async def create_credential(
    body: CredentialCreate,
    current: AccountSessionDep,
    rt: RuntimeDep,
    session: DbSession,
    actor: ActorDep,
    response: Response,
) -> IssuedCredentialOut:
    """Create an API credential; the secret is in this response only."""
    account, _ = current
    issued = await credentials.create(
        session,
        rt.hasher,
        rt.clock,
        _as_account(actor, account.id),
        tenant_id=account.tenant_id,
        account_id=account.id,
        name=body.name,
        environment=body.environment,
        scopes=body.scopes,
    )
    response.headers["Cache-Control"] = "no-store"
    return IssuedCredentialOut(
        **CredentialOut.of(issued.credential).model_dump(), api_secret=issued.api_secret
    )


@auth.get("/credentials/{credential_id}", response_model=CredentialOut)
async def get_credential(
    credential_id: str, current: AccountSessionDep, session: DbSession
) -> CredentialOut:
    """One credential of your tenant."""
    account, _ = current
    return CredentialOut.of(
        await credentials.get_for_tenant(session, account.tenant_id, credential_id)
    )


@auth.post("/credentials/{credential_id}/revoke", response_model=CredentialOut)
async def revoke_credential(
    credential_id: str,
    current: AccountSessionDep,
    rt: RuntimeDep,
    session: DbSession,
    actor: ActorDep,
) -> CredentialOut:
    """Revoke a credential: its secret stops exchanging and its tokens stop working."""
    account, _ = current
    cred = await credentials.get_for_tenant(
        session, account.tenant_id, credential_id, for_update=True
    )
    await credentials.revoke(session, rt.clock, _as_account(actor, account.id), cred)
    await session.commit()
    await rt.changed()
    return CredentialOut.of(cred)


@auth.post("/credentials/{credential_id}/rotate-secret", response_model=RotateResponse)
async def rotate_credential(
    credential_id: str,
    current: AccountSessionDep,
    rt: RuntimeDep,
    session: DbSession,
    actor: ActorDep,
    response: Response,
    body: RotateRequest | None = Body(None),
) -> RotateResponse:
    """Rotate a credential's secret from the signed-in session."""
    account, _ = current
    rotation = await credentials.rotate_secret(
        session,
        rt.hasher,
        rt.clock,
        _as_account(actor, account.id),
        tenant_id=account.tenant_id,
        credential_id=credential_id,
        grace_seconds=(body or RotateRequest()).grace_seconds,
    )
    await session.commit()
    await rt.changed()
    response.headers["Cache-Control"] = "no-store"
    return RotateResponse(
        api_key=rotation.credential.api_key,
        api_secret=rotation.api_secret,
        rotated_at=rotation.rotated_at,
        previous_secret_expires_at=rotation.previous_secret_expires_at,
    )


@auth.get("/audit", response_model=Page[AuditEventOut])
async def audit_log(
    current: AccountSessionDep,
    session: DbSession,
    params: PageDep,
    action: str | None = None,
    outcome: str | None = None,
    credential_id: str | None = None,
) -> Page[AuditEventOut]:
    """Your tenant's audit events, newest first; filter by action, outcome or credential."""
    account, _ = current
    rows, total = await audit.page_of_events(
        session,
        account.tenant_id,
        params,
        action=action,
        outcome=outcome,
        credential_id=credential_id,
    )
    return Page.of(
        [AuditEventOut.model_validate(r, from_attributes=True) for r in rows], total, params
    )
