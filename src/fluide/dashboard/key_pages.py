"""The dashboard's API-key pages: list, create, rotate, revoke, and "Try it".

Secrets are shown only in the response to the POST that created them (``no-store``), never
kept in a session or a cookie; a reload lands on the key list (see ``static/dashboard.js``).
Nothing here commits: the request's unit of work does, and applies a rotation or revocation in
this process before the page is sent (``kit.uow``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import Response

from fluide.dashboard.web import (
    PREFIX,
    WARN_BEFORE,
    CsrfChecked,
    HtmlRoute,
    SignedIn,
    account_actor,
    error_page,
    owned_credential,
    redirect,
    render,
    tenant_credentials,
    tenant_scopes,
)
from fluide.identity.deps import CredentialsDep, SessionTokensDep
from fluide.identity.models import Account
from fluide.identity.tokens import ExchangeResult
from fluide.kit.uow import DbSession, InfraDep

router = APIRouter(prefix=PREFIX, route_class=HtmlRoute, include_in_schema=False)

OVERLAPS = (
    (
        0,
        "Now",
        "The old secret stops at once and every token minted with it is revoked. "
        "Choose this if the secret may have leaked.",
    ),
    (
        3600,
        "1 hour",
        "The old secret keeps exchanging for 1 hour and existing tokens live to "
        "their expiry, so you can roll the new secret out first.",
    ),
    (86400, "24 hours", "The old secret keeps working for 24 hours: time for a daily deploy."),
    (604800, "7 days", "The old secret keeps working for 7 days: for slow release cycles."),
)
_DONE = {
    "revoked": "The credential is revoked: its secret no longer exchanges and its tokens stop "
    "working.",
    "policy": "The policy is saved: every process applies it within a second.",
}


def _secret_page(title: str, intro: str, credential: object, secret: str) -> dict[str, object]:
    """The context of the page that shows a new secret once, then leads back to the keys."""
    return {
        "title": title,
        "intro": intro,
        "credential": credential,
        "api_secret": secret,
        "after_url": f"{PREFIX}/keys",
        "after_path": f"{PREFIX}/keys",
        "continue_label": "Back to API keys",
        "nav": "keys",
    }


@router.get("/keys")
async def keys_page(
    request: Request,
    session: DbSession,
    infra: InfraDep,
    current: SignedIn,
    done: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    account, _ = current
    now = infra.clock()
    return render(
        request,
        "keys.html",
        {
            "title": "API keys",
            "account": account,
            "credentials": await tenant_credentials(session, account.tenant_id),
            "all_scopes": tenant_scopes(request),
            "notice": _DONE.get(done),
            "now": now,
            "warn_until": now + WARN_BEFORE,
            "nav": "keys",
        },
    )


@router.post("/keys", dependencies=[CsrfChecked])
async def create_key(
    request: Request,
    creds: CredentialsDep,
    session: DbSession,
    current: SignedIn,
    name: Annotated[str, Form(min_length=1, max_length=200)],
    environment: Annotated[str, Form(max_length=20)] = "sandbox",
    scopes: Annotated[list[str] | None, Form()] = None,
) -> Response:
    account, _ = current
    issued = await creds.create(
        session,
        account_actor(request, account),
        tenant_id=account.tenant_id,
        account_id=account.id,
        name=name.strip() or "Unnamed key",
        environment=environment,
        scopes=scopes or [],
    )
    intro = f"“{issued.credential.name}” is ready."
    context = _secret_page("New API credential", intro, issued.credential, issued.api_secret)
    return render(request, "secret.html", {**context, "account": account})


@router.get("/keys/{credential_id}/rotate")
async def rotate_page(
    request: Request, session: DbSession, current: SignedIn, credential_id: str
) -> Response:
    account, _ = current
    cred = await owned_credential(session, account, credential_id)
    return render(
        request,
        "rotate.html",
        {
            "title": "Rotate secret",
            "account": account,
            "credential": cred,
            "overlaps": OVERLAPS,
            "nav": "keys",
        },
    )


@router.post("/keys/{credential_id}/rotate", dependencies=[CsrfChecked])
async def rotate(
    request: Request,
    creds: CredentialsDep,
    session: DbSession,
    current: SignedIn,
    credential_id: str,
    grace_seconds: Annotated[int, Form()],
) -> Response:
    account, _ = current
    labels = {seconds: label for seconds, label, _ in OVERLAPS}
    if grace_seconds not in labels:
        return error_page(request, 400, "Please check the form", "Choose one of the overlaps.")
    rotation = await creds.rotate_secret(
        session,
        account_actor(request, account),
        tenant_id=account.tenant_id,
        credential_id=credential_id,
        grace_seconds=grace_seconds,
    )
    if grace_seconds:
        intro = (
            f"The old secret keeps working for {labels[grace_seconds]} "
            f"(until {rotation.previous_secret_expires_at:%Y-%m-%d %H:%M} UTC)."
        )
    else:
        intro = "The old secret no longer works, and every token minted with it is revoked."
    context = _secret_page("New secret", intro, rotation.credential, rotation.api_secret)
    return render(request, "secret.html", {**context, "account": account})


@router.get("/keys/{credential_id}/revoke")
async def revoke_page(
    request: Request, session: DbSession, current: SignedIn, credential_id: str
) -> Response:
    account, _ = current
    cred = await owned_credential(session, account, credential_id)
    return render(
        request,
        "revoke.html",
        {"title": "Revoke credential", "account": account, "credential": cred, "nav": "keys"},
    )


@router.post("/keys/{credential_id}/revoke", dependencies=[CsrfChecked])
async def revoke(
    request: Request,
    creds: CredentialsDep,
    session: DbSession,
    current: SignedIn,
    credential_id: str,
) -> Response:
    account, _ = current
    cred = await owned_credential(session, account, credential_id, for_update=True)
    await creds.revoke(session, account_actor(request, account), cred)
    return redirect(f"{PREFIX}/keys?done=revoked")


@router.post("/keys/{credential_id}/try", dependencies=[CsrfChecked])
async def try_it(
    request: Request,
    session_tokens: SessionTokensDep,
    session: DbSession,
    current: SignedIn,
    credential_id: str,
) -> Response:
    account, _ = current
    result = await session_tokens.mint_for_session(
        session,
        account_actor(request, account),
        account=account,
        credential_id=credential_id,
    )
    return playground_page(request, account, result)


def playground_page(
    request: Request,
    account: Account,
    result: ExchangeResult,
    acting: dict[str, str] | None = None,
) -> Response:
    """The page that hands a minted token (and, for a partner, the company to act for) to the
    playground once, through ``sessionStorage`` (``static/dashboard.js``)."""
    claims = result.claims
    handoff: dict[str, object] = {
        "bearer": result.access_token,
        "apiKey": claims["api_key"],
        "clientId": claims["fluide_client_id"],
    }
    if acting is not None:
        handoff["acting"] = acting
    return render(
        request,
        "try.html",
        {
            "title": "Opening the playground",
            "account": account,
            "playground": handoff,
            "acting": acting,
            "expires_in": claims["exp"] - claims["iat"],
            "nav": "workspaces" if acting else "keys",
        },
    )
