"""The Connect dashboard under ``/connect``: thin routes over the identity services.

Secrets are shown only in the response to the POST that created them (``no-store``), never
kept in a session or a cookie; a reload lands on the key list (see ``static/dashboard.js``).
"""

from __future__ import annotations

import contextlib
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, BackgroundTasks, Form, Query, Request
from sqlalchemy import select
from starlette.responses import Response

from fluide.dashboard import charts
from fluide.dashboard.web import (
    PREFIX,
    CsrfChecked,
    HtmlRoute,
    SignedIn,
    account_actor,
    clear_session_cookie,
    error_page,
    redirect,
    render,
    set_session_cookie,
    signed_in,
)
from fluide.gateway.usage import usage_summary
from fluide.identity import accounts, audit, credentials, session_tokens, signin_limits
from fluide.identity.deps import request_actor
from fluide.identity.errors import EmailNotVerified, SessionRequired
from fluide.identity.models import AuditEvent, Credential
from fluide.identity.principal import ALL_SCOPES
from fluide.kit.errors import AppError
from fluide.kit.pagination import PageParams
from fluide.runtime import DbSession, RuntimeDep

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
AUDIT_PAGE_SIZE = 25
Text = Annotated[str, Form(max_length=400)]


def _safe_next(target: str | None) -> str:
    # Only our own pages: no scheme, no host, no protocol-relative "//evil".
    if target and target.startswith(PREFIX + "/") and "//" not in target and "\\" not in target:
        return target
    return f"{PREFIX}/keys"


def _field_errors(exc: AppError) -> dict[str, list[str]]:
    return exc.errors or {}


# ---- anonymous pages ---------------------------------------------------------------------------


@router.get("")
@router.get("/")
async def home() -> Response:
    return redirect(f"{PREFIX}/keys")


@router.get("/signup")
async def signup_page(request: Request) -> Response:
    return render(request, "signup.html", {"title": "Create your account"})


@router.post("/signup", dependencies=[CsrfChecked])
async def signup(
    request: Request,
    rt: RuntimeDep,
    session: DbSession,
    background: BackgroundTasks,
    email: Text,
    password: Text,
    tenant_name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    try:
        requested = await accounts.request_sign_up(
            rt,
            session,
            request_actor(request),
            email=email,
            password=password,
            tenant_name=tenant_name.strip() or None,
        )
    except AppError as exc:
        await session.rollback()
        return render(
            request,
            "signup.html",
            {
                "title": "Create your account",
                "error": exc.message,
                "field_errors": _field_errors(exc),
                "email": email,
                "tenant_name": tenant_name,
            },
            status=exc.status,
        )
    await session.commit()
    # The same redirect for a new and a registered address; the mail (a code, or a notice to
    # the owner) goes after the response, so its delay does not tell them apart either.
    background.add_task(accounts.mail_quietly, accounts.send_sign_up_mail, rt, requested)
    return redirect(f"{PREFIX}/verify?email={quote(requested.email)}&sent=1")


@router.get("/verify")
async def verify_page(
    request: Request,
    email: Annotated[str, Query(max_length=320)] = "",
    sent: Annotated[str, Query(max_length=4)] = "",
) -> Response:
    return render(
        request,
        "verify.html",
        {"title": "Verify your email", "email": email, "sent": bool(sent)},
    )


@router.post("/verify", dependencies=[CsrfChecked])
async def verify(
    request: Request, rt: RuntimeDep, session: DbSession, email: Text, code: Text
) -> Response:
    try:
        result = await accounts.verify_email(
            rt, session, request_actor(request), email=email, code=code
        )
    except AppError as exc:
        await session.rollback()
        return render(
            request,
            "verify.html",
            {"title": "Verify your email", "email": email, "error": exc.message},
            status=exc.status,
        )
    await session.commit()
    signin_url = f"{PREFIX}/signin?email={quote(result.account.email)}"
    if result.issued is None:
        return redirect(signin_url + "&verified=1")
    return render(
        request,
        "secret.html",
        {
            "title": "Your API key",
            "intro": "Your email is verified and your first API credential is ready.",
            "credential": result.issued.credential,
            "api_secret": result.issued.api_secret,
            "after_url": signin_url,
            "after_path": f"{PREFIX}/signin",
            "after_email": result.account.email,
            "continue_label": "Continue to sign in",
        },
    )


@router.post("/verify/resend", dependencies=[CsrfChecked])
async def resend(
    request: Request, rt: RuntimeDep, session: DbSession, background: BackgroundTasks, email: Text
) -> Response:
    try:
        address = accounts.normalise_email(email)
        code = await accounts.resend_code(rt, session, address)
    except AppError:
        code = None
    await session.commit()
    if code is not None:
        background.add_task(accounts.mail_quietly, accounts.send_verification, rt, address, code)
    # The same answer whether or not the address exists.
    return render(
        request,
        "verify.html",
        {
            "title": "Verify your email",
            "email": email,
            "notice": "If this address is waiting for verification, a new code is on its way.",
        },
    )


@router.get("/signin")
async def signin_page(
    request: Request,
    email: Annotated[str, Query(max_length=320)] = "",
    next: Annotated[str, Query(max_length=400)] = "",
    verified: Annotated[str, Query(max_length=4)] = "",
) -> Response:
    notice = "Your email is verified. Sign in to manage your keys." if verified else None
    return render(
        request,
        "signin.html",
        {"title": "Sign in", "email": email, "next": next, "notice": notice},
    )


@router.post("/signin", dependencies=[CsrfChecked])
async def signin(
    request: Request,
    rt: RuntimeDep,
    session: DbSession,
    email: Text,
    password: Text,
    next: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    actor = request_actor(request)
    try:
        signed = await signin_limits.sign_in(rt, session, actor, email=email, password=password)
    except AppError as exc:
        await session.rollback()
        return render(
            request,
            "signin.html",
            {
                "title": "Sign in",
                "email": email,
                "next": next,
                "error": exc.message,
                "unverified": isinstance(exc, EmailNotVerified),
            },
            status=exc.status,
            headers=exc.headers,
        )
    await session.commit()
    response = redirect(_safe_next(next))
    set_session_cookie(request, response, signed.token, rt.settings.session_ttl_seconds)
    return response


# ---- signed-in pages ---------------------------------------------------------------------------


@router.post("/signout", dependencies=[CsrfChecked])
async def signout(
    request: Request, rt: RuntimeDep, session: DbSession, current: SignedIn
) -> Response:
    account, sess = current
    await accounts.sign_out(rt, session, account_actor(request, account), account, sess)
    await session.commit()
    response = redirect(f"{PREFIX}/signin")
    clear_session_cookie(request, response)
    return response


async def _tenant_credentials(session: DbSession, tenant_id: str) -> list[Credential]:
    rows, _ = await credentials.list_for_tenant(session, tenant_id, PageParams(page=1, limit=200))
    return rows


_DONE = {
    "revoked": "The credential is revoked: its secret no longer exchanges and its tokens stop "
    "working.",
}


@router.get("/keys")
async def keys_page(
    request: Request,
    session: DbSession,
    current: SignedIn,
    done: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    account, _ = current
    return render(
        request,
        "keys.html",
        {
            "title": "API keys",
            "account": account,
            "credentials": await _tenant_credentials(session, account.tenant_id),
            "all_scopes": ALL_SCOPES,
            "notice": _DONE.get(done),
            "nav": "keys",
        },
    )


@router.post("/keys", dependencies=[CsrfChecked])
async def create_key(
    request: Request,
    rt: RuntimeDep,
    session: DbSession,
    current: SignedIn,
    name: Annotated[str, Form(min_length=1, max_length=200)],
    environment: Annotated[str, Form(max_length=20)] = "sandbox",
    scopes: Annotated[list[str] | None, Form()] = None,
) -> Response:
    account, _ = current
    issued = await credentials.create(
        session,
        rt.hasher,
        rt.clock,
        account_actor(request, account),
        tenant_id=account.tenant_id,
        account_id=account.id,
        name=name.strip() or "Unnamed key",
        environment=environment,
        scopes=scopes or [],
    )
    await session.commit()
    return render(
        request,
        "secret.html",
        {
            "title": "New API credential",
            "account": account,
            "intro": f"“{issued.credential.name}” is ready.",
            "credential": issued.credential,
            "api_secret": issued.api_secret,
            "after_url": f"{PREFIX}/keys",
            "after_path": f"{PREFIX}/keys",
            "continue_label": "Back to API keys",
            "nav": "keys",
        },
    )


@router.get("/keys/{credential_id}/rotate")
async def rotate_page(
    request: Request, session: DbSession, current: SignedIn, credential_id: str
) -> Response:
    account, _ = current
    cred = await credentials.get_for_tenant(session, account.tenant_id, credential_id)
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
    rt: RuntimeDep,
    session: DbSession,
    current: SignedIn,
    credential_id: str,
    grace_seconds: Annotated[int, Form()],
) -> Response:
    account, _ = current
    labels = {seconds: label for seconds, label, _ in OVERLAPS}
    if grace_seconds not in labels:
        return error_page(request, 400, "Please check the form", "Choose one of the overlaps.")
    rotation = await credentials.rotate_secret(
        session,
        rt.hasher,
        rt.clock,
        account_actor(request, account),
        tenant_id=account.tenant_id,
        credential_id=credential_id,
        grace_seconds=grace_seconds,
    )
    await session.commit()
    await rt.changed()
    if grace_seconds:
        intro = (
            f"The old secret keeps working for {labels[grace_seconds]} "
            f"(until {rotation.previous_secret_expires_at:%Y-%m-%d %H:%M} UTC)."
        )
    else:
        intro = "The old secret no longer works, and every token minted with it is revoked."
    return render(
        request,
        "secret.html",
        {
            "title": "New secret",
            "account": account,
            "intro": intro,
            "credential": rotation.credential,
            "api_secret": rotation.api_secret,
            "after_url": f"{PREFIX}/keys",
            "after_path": f"{PREFIX}/keys",
            "continue_label": "Back to API keys",
            "nav": "keys",
        },
    )


@router.get("/keys/{credential_id}/revoke")
async def revoke_page(
    request: Request, session: DbSession, current: SignedIn, credential_id: str
) -> Response:
    account, _ = current
    cred = await credentials.get_for_tenant(session, account.tenant_id, credential_id)
    return render(
        request,
        "revoke.html",
        {"title": "Revoke credential", "account": account, "credential": cred, "nav": "keys"},
    )


@router.post("/keys/{credential_id}/revoke", dependencies=[CsrfChecked])
async def revoke(
    request: Request, rt: RuntimeDep, session: DbSession, current: SignedIn, credential_id: str
) -> Response:
    account, _ = current
    cred = await credentials.get_for_tenant(
        session, account.tenant_id, credential_id, for_update=True
    )
    await credentials.revoke(session, rt.clock, account_actor(request, account), cred)
    await session.commit()
    await rt.changed()
    return redirect(f"{PREFIX}/keys?done=revoked")


@router.post("/keys/{credential_id}/try", dependencies=[CsrfChecked])
async def try_it(
    request: Request, rt: RuntimeDep, session: DbSession, current: SignedIn, credential_id: str
) -> Response:
    account, _ = current
    result = await session_tokens.mint_for_session(
        rt,
        session,
        account_actor(request, account),
        account=account,
        credential_id=credential_id,
    )
    await session.commit()
    claims = result.claims
    return render(
        request,
        "try.html",
        {
            "title": "Opening the playground",
            "account": account,
            "playground": {
                "bearer": result.access_token,
                "apiKey": claims["api_key"],
                "clientId": claims["fluide_client_id"],
            },
            "expires_in": claims["exp"] - claims["iat"],
            "nav": "keys",
        },
    )


@router.get("/usage")
async def usage_page(
    request: Request, rt: RuntimeDep, session: DbSession, current: SignedIn
) -> Response:
    account, _ = current
    creds = await _tenant_credentials(session, account.tenant_id)
    names = {c.id: f"{c.name} ({c.api_key[:11]}…)" for c in creds}
    summary = await usage_summary(session, account.tenant_id, rt.clock().date(), days=14)
    series = sorted(
        ((names.get(cid, cid), counts) for cid, counts in summary.requests.items()),
        key=lambda s: (-sum(s[1]), s[0]),
    )
    return render(
        request,
        "usage.html",
        {
            "title": "Usage",
            "account": account,
            "chart": charts.stacked_bars(summary.days, series),
            "days": summary.days,
            "series": series,
            "denials": sorted(summary.denials.items(), key=lambda d: (-d[1], d[0])),
            "nav": "usage",
        },
    )


@router.get("/audit")
async def audit_page(
    request: Request,
    session: DbSession,
    current: SignedIn,
    action: Annotated[str, Query(max_length=64)] = "",
    outcome: Annotated[str, Query(max_length=16)] = "",
    credential: Annotated[str, Query(max_length=40)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    account, _ = current
    events, total = await audit.page_of_events(
        session,
        account.tenant_id,
        PageParams(page=page, limit=AUDIT_PAGE_SIZE),
        action=action,
        outcome=outcome,
        credential_id=credential,
    )
    actions = sorted(
        (
            await session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.tenant_id == account.tenant_id)
                .distinct()
            )
        ).all()
    )
    creds = await _tenant_credentials(session, account.tenant_id)
    filters = {"action": action, "outcome": outcome, "credential": credential}
    kept = {k: v for k, v in filters.items() if v}
    pages = max(1, -(-total // AUDIT_PAGE_SIZE))
    return render(
        request,
        "audit.html",
        {
            "title": "Audit log",
            "account": account,
            "events": events,
            "actions": actions,
            "credentials": creds,
            "cred_names": {c.id: c.name for c in creds},
            "filters": filters,
            "total": total,
            "page": page,
            "pages": pages,
            "prev_url": f"?{urlencode({**kept, 'page': page - 1})}" if page > 1 else None,
            "next_url": f"?{urlencode({**kept, 'page': page + 1})}" if page < pages else None,
            "nav": "audit",
        },
    )


@router.api_route("/{path:path}", methods=["GET", "POST"])
async def not_found(request: Request, session: DbSession, path: str) -> Response:
    with contextlib.suppress(SessionRequired):
        await signed_in(request, session)  # only to show the right navigation
    return error_page(request, 404, "Page not found", "There is no dashboard page at this address.")
