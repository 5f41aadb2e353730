"""The developer session (DESIGN §3.3).

Every route takes a valid token of the credential (Bearer + X-Fluide-Client-Id, + X-Fluide-Api-Key
if sent, and then it must match: ``identity.authn``), refuses X-Fluide-Api-Secret (check 1, in the
gateway's middleware), and acts on that credential only. What each needs beyond that is in its
docstring; the legacy /developer-access/* aliases are the same handlers. Nothing here commits:
the request's unit of work does, and applies a revocation before the answer (``kit.uow``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request, Response

from fluide.identity import audit, credentials
from fluide.identity.errors import InsufficientScope, RotationNeedsTheSecret
from fluide.identity.partners.acting import acting_caller
from fluide.identity.request import (
    CredentialsDep,
    PrincipalDep,
    TokensDep,
    identity_state,
    principal_actor,
)
from fluide.identity.schemas import AuthContext, CredentialOut, RotateRequest, RotateResponse
from fluide.kit.uow import DbSession, get_infra

router = APIRouter(prefix="/api/v1", tags=["Authorize"])


@router.get("/authorize/current", operation_id="authorize.current", response_model=CredentialOut)
@router.get("/developer-access/current", response_model=CredentialOut, include_in_schema=False)
async def current_credential(principal: PrincipalDep, session: DbSession) -> CredentialOut:
    """Metadata of the credential bound to the token (never the secret).

    Any valid token of the credential, narrowed or not: metadata only (the key, its scopes,
    times, status), never a secret or a hash, and nothing changes.
    """
    cred = await credentials.get_for_tenant(session, principal.tenant_id, principal.credential_id)
    return CredentialOut.of(cred)


@router.post(
    "/authorize/rotate-secret",
    operation_id="authorize.rotate_secret",
    response_model=RotateResponse,
)
@router.post(
    "/developer-access/rotate-secret", response_model=RotateResponse, include_in_schema=False
)
async def rotate_secret(
    request: Request,
    response: Response,
    principal: PrincipalDep,
    creds: CredentialsDep,
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
        rotation = await creds.rotate_secret(
            session,
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
            get_infra(request).clock,
            actor,
            "credential.rotate_secret",
            exc.code,
            tenant_id=principal.tenant_id,
            credential_id=principal.credential_id,
            details={"jti": principal.jti, "via": principal.via},
        )
        raise
    response.headers["Cache-Control"] = "no-store"
    return RotateResponse(
        api_key=rotation.credential.api_key,
        api_secret=rotation.api_secret,
        rotated_at=rotation.rotated_at,
        previous_secret_expires_at=rotation.previous_secret_expires_at,
    )


@router.post("/authorize/revoke", operation_id="authorize.revoke", status_code=204)
async def revoke_token(
    request: Request, principal: PrincipalDep, tokens: TokensDep, session: DbSession
) -> Response:
    """Revoke the presented access token (sign-out).

    Any valid token, narrowed or from the dashboard: it revokes itself and nothing else.
    """
    await tokens.revoke(session, principal_actor(request, principal), principal)
    return Response(status_code=204)


@router.get(
    "/auth-context/{jti}", operation_id="authorize.auth_context", response_model=AuthContext
)
async def auth_context(
    jti: str, request: Request, principal: PrincipalDep, tokens: TokensDep, session: DbSession
) -> dict[str, Any]:
    """Context of one of your credential's tokens: scopes, times, status, and whom you act for.

    Any valid token of the credential; another credential's jti is a 404. Read-only, and
    shows no token, key material or secret, so a narrowed token may read its siblings'.
    `workspaceId` and `companyId` are those of this request's `X-Workspace-Id` and
    `X-Acting-Company-Id`, checked as on a product call (both or neither, 400;
    the presenting token needs `partner:client:act-as`, 403; not yours, 404), else null.
    """
    # The same check, from the same in-memory view, as the guard's on product calls.
    acting = acting_caller(principal, request.scope["headers"], identity_state(request).tenancy)
    return await tokens.context(session, acting, jti)
