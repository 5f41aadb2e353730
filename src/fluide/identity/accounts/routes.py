"""The account routes (``/api/v1/auth/*``): sign-up, verification, sign-in and what a signed-in
account does with its tenant's credentials and audit log. Nothing here commits: the request's
unit of work does (``kit.uow``)."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Body, Response

from fluide.identity import audit, credentials
from fluide.identity.accounts.deps import AccountsDep, AccountSessionDep, SignInDep
from fluide.identity.accounts.service import mail_quietly
from fluide.identity.audit import Actor
from fluide.identity.credentials import PolicyChange
from fluide.identity.request import ActorDep, CredentialsDep
from fluide.identity.schemas import (
    AuditEventOut,
    CredentialCreate,
    CredentialOut,
    CredentialPolicyIn,
    IdentityAccount,
    IssuedCredentialOut,
    ResendRequest,
    RotateRequest,
    RotateResponse,
    SessionOut,
    SignInRequest,
    SignUpRequest,
    SignUpResponse,
    VerifyRequest,
    VerifyResponse,
)
from fluide.kit.errors import RateLimited
from fluide.kit.pagination import Page, PageDep
from fluide.kit.uow import DbSession, InfraDep

router = APIRouter(prefix="/api/v1/auth", tags=["Accounts"])


@router.post(
    "/signup", operation_id="accounts.signup", response_model=SignUpResponse, status_code=202
)
async def sign_up(
    body: SignUpRequest,
    accounts: AccountsDep,
    session: DbSession,
    actor: ActorDep,
    background: BackgroundTasks,
) -> SignUpResponse:
    """Ask for a developer account: a 6-digit code is emailed to verify it. The answer is the
    same whether or not the address is registered (its owner is told by mail instead)."""
    requested = await accounts.request_sign_up(
        session, actor, email=body.email, password=body.password, tenant_name=body.tenant_name
    )
    # After the response: how long a mail server takes must not tell the two cases apart.
    background.add_task(mail_quietly, accounts.send_sign_up_mail, requested)
    return SignUpResponse(email=requested.email)


@router.post("/verify/resend", operation_id="accounts.resend_code", status_code=202)
async def resend_code(
    body: ResendRequest,
    accounts: AccountsDep,
    infra: InfraDep,
    session: DbSession,
    background: BackgroundTasks,
) -> Response:
    """Email a fresh verification code (always 202: whether the email exists is not revealed)."""
    decision = await infra.limiter.hit("5/hour", "resend", body.email.lower())
    if not decision.allowed:
        raise RateLimited(decision.retry_after)
    code = await accounts.resend_code(session, body.email)
    if code is not None:
        background.add_task(mail_quietly, accounts.send_verification, body.email, code)
    return Response(status_code=202)


@router.post("/verify", operation_id="accounts.verify", response_model=VerifyResponse)
async def verify(
    body: VerifyRequest,
    accounts: AccountsDep,
    session: DbSession,
    response: Response,
    actor: ActorDep,
) -> VerifyResponse:
    """Verify the email with its code; the first time, returns your API key and one-time secret."""
    result = await accounts.verify_email(session, actor, email=body.email, code=body.code)
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


@router.post("/signin", operation_id="accounts.signin", response_model=SessionOut)
async def sign_in(
    body: SignInRequest,
    signin: SignInDep,
    session: DbSession,
    actor: ActorDep,
    response: Response,
) -> SessionOut:
    """Sign in with email and password; returns a session token for the account routes."""
    signed = await signin.sign_in(session, actor, email=body.email, password=body.password)
    response.headers["Cache-Control"] = "no-store"
    return SessionOut(
        session_token=signed.token,
        expires_at=signed.expires_at,
        account_id=signed.account.id,
        tenant_id=signed.account.tenant_id,
    )


@router.post("/signout", operation_id="accounts.signout", status_code=204)
async def sign_out(
    current: AccountSessionDep, accounts: AccountsDep, session: DbSession, actor: ActorDep
) -> Response:
    """End the current account session."""
    account, sess = current
    await accounts.sign_out(session, _as_account(actor, account.id), account, sess)
    return Response(status_code=204)


@router.get("/me", operation_id="accounts.me", response_model=IdentityAccount)
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


@router.get(
    "/credentials", operation_id="accounts.credentials.list", response_model=Page[CredentialOut]
)
async def list_credentials(
    current: AccountSessionDep, session: DbSession, params: PageDep
) -> Page[CredentialOut]:
    """Every API credential of your tenant."""
    account, _ = current
    rows, total = await credentials.list_for_tenant(session, account.tenant_id, params)
    return Page.of([CredentialOut.of(c) for c in rows], total, params)


@router.post(
    "/credentials",
    operation_id="accounts.credentials.create",
    response_model=IssuedCredentialOut,
    status_code=201,
)
async def create_credential(
    body: CredentialCreate,
    current: AccountSessionDep,
    creds: CredentialsDep,
    session: DbSession,
    actor: ActorDep,
    response: Response,
) -> IssuedCredentialOut:
    """Create an API credential; the secret is in this response only."""
    account, _ = current
    issued = await creds.create(
        session,
        _as_account(actor, account.id),
        tenant_id=account.tenant_id,
        account_id=account.id,
        name=body.name,
        environment=body.environment,
        policy=policy_change(body, exclude=frozenset({"name", "environment"})),
    )
    response.headers["Cache-Control"] = "no-store"
    return IssuedCredentialOut(
        **CredentialOut.of(issued.credential).model_dump(), api_secret=issued.api_secret
    )


@router.get(
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


def policy_change(body: CredentialPolicyIn, exclude: frozenset[str] = frozenset()) -> PolicyChange:
    """The fields the client sent (``null`` included), as a change of policy."""
    sent = body.model_fields_set - exclude
    return PolicyChange(**{name: getattr(body, name) for name in sent})


@router.patch(
    "/credentials/{credential_id}",
    operation_id="accounts.credentials.update_policy",
    response_model=CredentialOut,
)
async def update_credential_policy(
    credential_id: str,
    body: CredentialPolicyIn,
    current: AccountSessionDep,
    creds: CredentialsDep,
    session: DbSession,
    actor: ActorDep,
) -> CredentialOut:
    """Change a credential's policy (expiry, networks, rate limit, scopes): only the fields
    sent change, ``null`` lifts one. Every process applies it within a second."""
    account, _ = current
    cred = await credentials.get_for_tenant(
        session, account.tenant_id, credential_id, for_update=True
    )
    await creds.set_policy(session, _as_account(actor, account.id), cred, policy_change(body))
    return CredentialOut.of(cred)


@router.post(
    "/credentials/{credential_id}/revoke",
    operation_id="accounts.credentials.revoke",
    response_model=CredentialOut,
)
async def revoke_credential(
    credential_id: str,
    current: AccountSessionDep,
    creds: CredentialsDep,
    session: DbSession,
    actor: ActorDep,
) -> CredentialOut:
    """Revoke a credential: its secret stops exchanging and its tokens stop working."""
    account, _ = current
    cred = await credentials.get_for_tenant(
        session, account.tenant_id, credential_id, for_update=True
    )
    await creds.revoke(session, _as_account(actor, account.id), cred)
    return CredentialOut.of(cred)


@router.post(
    "/credentials/{credential_id}/rotate-secret",
    operation_id="accounts.credentials.rotate_secret",
    response_model=RotateResponse,
)
async def rotate_credential(
    credential_id: str,
    current: AccountSessionDep,
    creds: CredentialsDep,
    session: DbSession,
    actor: ActorDep,
    response: Response,
    body: RotateRequest | None = Body(None),
) -> RotateResponse:
    """Rotate a credential's secret from the signed-in session."""
    account, _ = current
    rotation = await creds.rotate_secret(
        session,
        _as_account(actor, account.id),
        tenant_id=account.tenant_id,
        credential_id=credential_id,
        grace_seconds=(body or RotateRequest()).grace_seconds,
    )
    response.headers["Cache-Control"] = "no-store"
    return RotateResponse(
        api_key=rotation.credential.api_key,
        api_secret=rotation.api_secret,
        rotated_at=rotation.rotated_at,
        previous_secret_expires_at=rotation.previous_secret_expires_at,
    )


@router.get("/audit", operation_id="accounts.audit", response_model=Page[AuditEventOut])
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
