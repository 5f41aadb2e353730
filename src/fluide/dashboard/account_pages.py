"""The dashboard's account pages: sign up, verify, sign in, sign out.

A form whose service refuses it is shown again with the error (``PageError``: the request's
work is rolled back, ``kit.uow``); nothing here commits.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, BackgroundTasks, Form, Query, Request
from starlette.responses import Response

from fluide.dashboard.web import (
    PREFIX,
    CsrfChecked,
    HtmlRoute,
    PageError,
    SignedIn,
    account_actor,
    clear_session_cookie,
    redirect,
    render,
    set_session_cookie,
)
from fluide.identity.accounts.service import mail_quietly, normalise_email
from fluide.identity.deps import AccountsDep, SignInDep, request_actor
from fluide.identity.errors import EmailNotVerified
from fluide.kit.errors import AppError
from fluide.kit.uow import DbSession, InfraDep

router = APIRouter(prefix=PREFIX, route_class=HtmlRoute, include_in_schema=False)
Text = Annotated[str, Form(max_length=400)]


def safe_next(target: str | None) -> str:
    # Only our own pages: no scheme, no host, no protocol-relative "//evil".
    if target and target.startswith(PREFIX + "/") and "//" not in target and "\\" not in target:
        return target
    return f"{PREFIX}/keys"


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
    accounts: AccountsDep,
    session: DbSession,
    background: BackgroundTasks,
    email: Text,
    password: Text,
    tenant_name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    try:
        requested = await accounts.request_sign_up(
            session,
            request_actor(request),
            email=email,
            password=password,
            tenant_name=tenant_name.strip() or None,
        )
    except AppError as exc:
        context = {
            "title": "Create your account",
            "error": exc.message,
            "field_errors": exc.errors or {},
            "email": email,
            "tenant_name": tenant_name,
        }
        raise PageError("signup.html", context, exc.status) from None
    # The same redirect for a new and a registered address; the mail (a code, or a notice to
    # the owner) goes after the response, so its delay does not tell them apart either.
    background.add_task(mail_quietly, accounts.send_sign_up_mail, requested)
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
    request: Request, accounts: AccountsDep, session: DbSession, email: Text, code: Text
) -> Response:
    try:
        result = await accounts.verify_email(
            session, request_actor(request), email=email, code=code
        )
    except AppError as exc:
        context = {"title": "Verify your email", "email": email, "error": exc.message}
        # A wrong code's attempt still counts: the service keeps it (kit.uow.keep).
        raise PageError("verify.html", context, exc.status) from None
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
    request: Request,
    accounts: AccountsDep,
    session: DbSession,
    background: BackgroundTasks,
    email: Text,
) -> Response:
    try:
        address = normalise_email(email)
        code = await accounts.resend_code(session, address)
    except AppError:
        code = None
    if code is not None:
        background.add_task(mail_quietly, accounts.send_verification, address, code)
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
    signin: SignInDep,
    infra: InfraDep,
    session: DbSession,
    email: Text,
    password: Text,
    next: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    actor = request_actor(request)
    try:
        signed = await signin.sign_in(session, actor, email=email, password=password)
    except AppError as exc:
        context = {
            "title": "Sign in",
            "email": email,
            "next": next,
            "error": exc.message,
            "unverified": isinstance(exc, EmailNotVerified),
        }
        raise PageError("signin.html", context, exc.status, exc.headers) from None
    response = redirect(safe_next(next))
    set_session_cookie(request, response, signed.token, infra.settings.session_ttl_seconds)
    return response


@router.post("/signout", dependencies=[CsrfChecked])
async def signout(
    request: Request, accounts: AccountsDep, session: DbSession, current: SignedIn
) -> Response:
    account, sess = current
    await accounts.sign_out(session, account_actor(request, account), account, sess)
    response = redirect(f"{PREFIX}/signin")
    clear_session_cookie(request, response)
    return response
