"""Identity routes: token exchange, developer session, accounts, credentials, JWKS."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, BackgroundTasks, Body, Request, Response
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
from fluide.identity.errors import EXCHANGE_CHALLENGE, InsufficientScope, RotationNeedsTheSecret
from fluide.identity.schemas import (
    AuditEventOut,
    AuthContext,
    CredentialCreate,
    CredentialOut,
    Health,
    IdentityAccount,
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
    Unauthorized,
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


@public.get("/api/v1", operation_id="service.root", response_model=ServiceRoot, tags=["Service"])
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
    "/api/v1/health",
    operation_id="service.health",
    response_model=Health,
    tags=["Service"],
    responses={503: {"model": Health}},
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


@public.get("/.well-known/jwks.json", operation_id="service.jwks", tags=["Service"])
@public.get("/api/v1/auth/.well-known/jwks.json", operation_id="accounts.jwks", tags=["Service"])
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
        # Optional (the headers usually carry the values): a plain optional object, which
        # generators understand, rather than FastAPI's anyOf[TokenRequest, null].
        "required": False,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TokenRequest"}}},
    }
}


@exchange.post(
    "/authorize/token",
    operation_id="authorize.token",
    response_model=TokenResponse,
    openapi_extra=_EXCHANGE_BODY,
)
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
    try:
        result = await tokens.exchange(
            rt,
            actor,
            api_key=h.get("key") or body.api_key,
            api_secret=h.get("secret") or body.api_secret,
            client_id=h.get("client") or body.client_id,
            scope=h.get("scope") or body.scope,
        )
    except Unauthorized as exc:
        # Whatever the class (CREDENTIAL_REVOKED is a Bearer error on other routes), a 401 of
        # the exchange challenges for what it takes: the key, the secret and the client id.
        exc.headers = {**exc.headers, "WWW-Authenticate": EXCHANGE_CHALLENGE}
        raise
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


# The developer session (DESIGN §3.3). Every route takes a valid token of the credential
# (Bearer + X-Fluide-Client-Id, + X-Fluide-Api-Key if sent, and then it must match), refuses
# X-Fluide-Api-Secret (check 1, in the gateway middleware), and acts on that credential
# only. What each needs beyond that is in its docstring; the legacy /developer-access/*
# aliases are the same handlers.


@developer.get("/authorize/current", operation_id="authorize.current", response_model=CredentialOut)
@developer.get("/developer-access/current", response_model=CredentialOut, include_in_schema=False)
async def current_credential(principal: PrincipalDep, session: DbSession) -> CredentialOut:
    """Metadata of the credential bound to the token (never the secret).

    Any valid token of the credential, narrowed or not: metadata only (the key, its scopes,
    times, status), never a secret or a hash, and nothing changes.
    """
    cred = await credentials.get_for_tenant(session, principal.tenant_id, principal.credential_id)
    return CredentialOut.of(cred)


@developer.post(
    "/authorize/rotate-secret",
    operation_id="authorize.rotate_secret",
    response_model=RotateResponse,
)
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
    """Issue a new secret (shown once); choose how long the old one keeps working.

    Needs a token exchanged with the secret that carries every scope of its credential: a
    new secret exchanges for every scope, so a narrowed token, or the dashboard's five-minute
    "Try it" token, gets 403 `INSUFFICIENT_SCOPE` (audited) and nothing changes.
    """
    actor = principal_actor(request, principal)
    try:
        if principal.via is not None:  # minted without the secret (session_tokens)
            raise RotationNeedsTheSecret
        rotation = await credentials.rotate_secret(
            session,
            rt.hasher,
            rt.clock,
            actor,
            tenant_id=principal.tenant_id,
            credential_id=principal.credential_id,
            grace_seconds=(body or RotateRequest()).grace_seconds,
            caller_generation=principal.generation,
            caller_scopes=principal.scopes,
        )
    except (InsufficientScope, RotationNeedsTheSecret) as exc:
        await audit.record_denial(
            session,
            rt.clock,
            actor,
            "credential.rotate_secret",
            exc.code,
            tenant_id=principal.tenant_id,
            credential_id=principal.credential_id,
            details={"jti": principal.jti, "via": principal.via},
        )
        raise
    await session.commit()
    await rt.changed()
    response.headers["Cache-Control"] = "no-store"
    return RotateResponse(
        api_key=rotation.credential.api_key,
        api_secret=rotation.api_secret,
        rotated_at=rotation.rotated_at,
        previous_secret_expires_at=rotation.previous_secret_expires_at,
    )


@developer.post("/authorize/revoke", operation_id="authorize.revoke", status_code=204)
async def revoke_token(
    request: Request, principal: PrincipalDep, rt: RuntimeDep, session: DbSession
) -> Response:
    """Revoke the presented access token (sign-out).

    Any valid token, narrowed or from the dashboard: it revokes itself and nothing else.
    """
    await tokens.revoke_token(rt, session, principal_actor(request, principal), principal)
    await session.commit()
    await rt.changed()
    return Response(status_code=204)


@developer.get(
    "/auth-context/{jti}", operation_id="authorize.auth_context", response_model=AuthContext
)
async def auth_context(
    jti: str, principal: PrincipalDep, rt: RuntimeDep, session: DbSession
) -> dict[str, Any]:
    """Context of one of your credential's tokens: scopes, times and status.

    Any valid token of the credential; another credential's jti is a 404. Read-only, and
    shows no token, key material or secret, so a narrowed token may read its siblings'.
    """
    return await tokens.auth_context(rt, session, principal, jti)


# ---- accounts ---------------------------------------------------------------------------------


@auth.post(
    "/signup", operation_id="accounts.signup", response_model=SignUpResponse, status_code=202
)
async def sign_up(
    body: SignUpRequest,
    rt: RuntimeDep,
    session: DbSession,
    actor: ActorDep,
    background: BackgroundTasks,
) -> SignUpResponse:
    """Ask for a developer account: a 6-digit code is emailed to verify it. The answer is the
    same whether or not the address is registered (its owner is told by mail instead)."""
    requested = await accounts.request_sign_up(
        rt, session, actor, email=body.email, password=body.password, tenant_name=body.tenant_name
    )
    # After the response: how long a mail server takes must not tell the two cases apart.
    background.add_task(accounts.mail_quietly, accounts.send_sign_up_mail, rt, requested)
    return SignUpResponse(email=requested.email)


@auth.post("/verify/resend", operation_id="accounts.resend_code", status_code=202)
async def resend_code(
    body: ResendRequest, rt: RuntimeDep, session: DbSession, background: BackgroundTasks
) -> Response:
    """Email a fresh verification code (always 202: whether the email exists is not revealed)."""
    decision = await rt.limiter.hit("5/hour", "resend", body.email.lower())
    if not decision.allowed:
        raise RateLimited(decision.retry_after)
    code = await accounts.resend_code(rt, session, body.email)
    if code is not None:
        background.add_task(accounts.mail_quietly, accounts.send_verification, rt, body.email, code)
    return Response(status_code=202)


@auth.post("/verify", operation_id="accounts.verify", response_model=VerifyResponse)
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


@auth.post("/signin", operation_id="accounts.signin", response_model=SessionOut)
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


@auth.post("/signout", operation_id="accounts.signout", status_code=204)
async def sign_out(
    current: AccountSessionDep, rt: RuntimeDep, session: DbSession, actor: ActorDep
) -> Response:
    """End the current account session."""
    account, sess = current
    await accounts.sign_out(rt, session, _as_account(actor, account.id), account, sess)
    return Response(status_code=204)


@auth.get("/me", operation_id="accounts.me", response_model=IdentityAccount)
async def me(current: AccountSessionDep) -> IdentityAccount:
    """The signed-in account."""
    account, _ = current
    return IdentityAccount(
        account_id=account.id,
        email=account.email,
        tenant_id=account.tenant_id,
        email_verified_at=account.email_verified_at,
    )


def _as_account(actor: Actor, account_id: str) -> Actor:
    return Actor("account", account_id, actor.source_ip, actor.request_id)


@auth.get(
    "/credentials", operation_id="accounts.credentials.list", response_model=Page[CredentialOut]
)
async def list_credentials(
    current: AccountSessionDep, session: DbSession, params: PageDep
) -> Page[CredentialOut]:
    """Every API credential of your tenant."""
    account, _ = current
    rows, total = await credentials.list_for_tenant(session, account.tenant_id, params)
    return Page.of([CredentialOut.of(c) for c in rows], total, params)


@auth.post(
    "/credentials",
    operation_id="accounts.credentials.create",
    response_model=IssuedCredentialOut,
    status_code=201,
)
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


@auth.get(
    "/credentials/{credential_id}",
    operation_id="accounts.credentials.get",
    response_model=CredentialOut,
)
async def get_credential(
    credential_id: str, current: AccountSessionDep, session: DbSession
) -> CredentialOut:
    """One credential of your tenant."""
    account, _ = current
    return CredentialOut.of(
        await credentials.get_for_tenant(session, account.tenant_id, credential_id)
    )


@auth.post(
    "/credentials/{credential_id}/revoke",
    operation_id="accounts.credentials.revoke",
    response_model=CredentialOut,
)
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


@auth.post(
    "/credentials/{credential_id}/rotate-secret",
    operation_id="accounts.credentials.rotate_secret",
    response_model=RotateResponse,
)
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


@auth.get("/audit", operation_id="accounts.audit", response_model=Page[AuditEventOut])
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
