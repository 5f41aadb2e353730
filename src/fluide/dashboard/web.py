"""HTML plumbing for the dashboard: templates, security headers, cookies, CSRF, error pages.

CSRF is a signed double-submit token: a random ``fluide_csrf`` cookie, and in every POST form
``HMAC(pepper, "csrf:" + cookie + ":" + session token)``. An attacker's page can neither read
the cookie nor compute the HMAC, and a token is bound to the session it was rendered for.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import RedirectResponse, Response

from fluide.identity import credentials
from fluide.identity.audit import Actor
from fluide.identity.deps import SESSION_COOKIE, AccountsDep, request_actor
from fluide.identity.errors import SessionRequired
from fluide.identity.hashing import SecretHasher
from fluide.identity.models import Account, AccountSession, Credential
from fluide.identity.policy import load_cidrs
from fluide.identity.principal import scopes_for_kind
from fluide.kit import faults, uow
from fluide.kit.clock import as_utc
from fluide.kit.errors import AppError, Forbidden, ValidationFailed
from fluide.kit.pagination import PageParams
from fluide.kit.uow import DbSession, get_infra

PREFIX = "/connect"
CSRF_COOKIE = "fluide_csrf"
CSRF_FIELD = "csrf_token"
# A 401 page's WWW-Authenticate (RFC 9110 §15.5.2): the session is a cookie that the sign-in
# form sets, in the form of the (expired) draft-broyer-http-cookie-auth "Cookie" scheme.
COOKIE_CHALLENGE = (
    f'Cookie realm="fluide-connect", form-action="{PREFIX}/signin", cookie-name="{SESSION_COOKIE}"'
)
HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"

templates = Jinja2Templates(directory=str(HERE / "templates"))

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class CsrfRejected(Forbidden):
    code = "CSRF_TOKEN_INVALID"
    message = "This form has expired or did not come from this site. Reload the page and retry."


def _when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return as_utc(value).strftime("%Y-%m-%d %H:%M UTC")


templates.env.filters["when"] = _when
# A credential's stored allowlist (a JSON list, ``identity.policy``) as a list for a page.
templates.env.filters["cidrs"] = lambda text: load_cidrs(text) or []
# The key list warns this long before a key expires (issue 21).
WARN_BEFORE = timedelta(days=7)


def is_secure(request: Request) -> bool:
    return request.url.scheme == "https" or get_infra(request).settings.base_url.startswith(
        "https://"
    )


def _hasher(request: Request) -> SecretHasher:
    hasher: SecretHasher = request.app.state.identity.hasher
    return hasher


def csrf_token_for(hasher: SecretHasher, csrf_cookie: str, session_token: str | None) -> str:
    return hasher.digest(f"csrf:{csrf_cookie}:{session_token or ''}")


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """Render a page with a CSRF token for its forms; every page is ``no-store``."""
    csrf_cookie = request.cookies.get(CSRF_COOKIE)
    new_cookie = csrf_cookie is None or len(csrf_cookie) != 43
    if new_cookie:
        csrf_cookie = secrets.token_urlsafe(32)
    assert csrf_cookie is not None
    ctx: dict[str, Any] = {
        "csrf_token": csrf_token_for(
            _hasher(request), csrf_cookie, request.cookies.get(SESSION_COOKIE)
        ),
        "csrf_field": CSRF_FIELD,
        "prefix": PREFIX,
        "account": None,
    }
    ctx.update(context or {})
    # Plain values: on an error page the session was rolled back and ORM rows are expired.
    state = request.scope.get("state", {})
    ctx["signed_in_email"] = state.get("dashboard_email")
    ctx["signed_in_partner"] = state.get("dashboard_partner", False)
    response = templates.TemplateResponse(request, template, ctx, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    # Private pages: nothing is cached, so a secret or a token never outlives its response.
    response.headers["Cache-Control"] = "no-store"
    response.headers.update(headers or {})
    if new_cookie:
        response.set_cookie(
            CSRF_COOKIE,
            csrf_cookie,
            httponly=True,
            samesite="lax",
            secure=is_secure(request),
            path=PREFIX,
        )
    return response


def error_page(
    request: Request,
    status: int,
    title: str,
    message: str,
    errors: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    problems = [f"{field}: {m}" for field, ms in (errors or {}).items() for m in ms]
    return render(
        request,
        "error.html",
        {"title": title, "message": message, "problems": problems},
        status=status,
        headers=headers,
    )


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def set_session_cookie(request: Request, response: Response, token: str, max_age: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=is_secure(request),
        path=PREFIX,
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        SESSION_COOKIE, httponly=True, samesite="lax", secure=is_secure(request), path=PREFIX
    )


_TITLES = {
    400: "Please check the form",
    401: "Not allowed",
    403: "Not allowed",
    404: "Page not found",
    409: "Already exists",
    429: "Slow down",
    503: "Back in a moment",
}


class PageError(Exception):
    """A failure answered with a page of its own (a form shown again with its error). Raised,
    not returned, so the request's work is rolled back like that of any failure (``kit.uow``)."""

    def __init__(
        self,
        template: str,
        context: dict[str, Any],
        status: int,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(template)
        self.template, self.context, self.status, self.headers = template, context, status, headers


class HtmlRoute(APIRoute):
    """Dashboard routes answer failures with a friendly HTML page, not the JSON envelope.

    Such an answer is still a failure: the request's unit of work rolls back (``kit.uow.fail``;
    the page is rendered inside the route's handler, before the session dependency ends).
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def html_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except (PageError, SessionRequired, RequestValidationError, AppError) as exc:
                uow.fail(request)
                return _failure_page(request, exc)
            except Exception as exc:
                # A database or Redis outage: a friendly 503 page with Retry-After (kit.faults).
                unavailable = faults.noted(request.scope, exc)
                if unavailable is None:
                    raise
                uow.fail(request)
                return _failure_page(request, unavailable)

        return html_handler


def _failure_page(request: Request, exc: Exception) -> Response:
    if isinstance(exc, PageError):
        return render(request, exc.template, exc.context, status=exc.status, headers=exc.headers)
    if isinstance(exc, SessionRequired):
        if request.method == "GET":
            return redirect(f"{PREFIX}/signin?next={quote(request.url.path)}")
        return error_page(
            request,
            401,
            "Signed out",
            "Your session has ended. Sign in again.",
            headers={"WWW-Authenticate": COOKIE_CHALLENGE},
        )
    if isinstance(exc, AppError):
        title = _TITLES.get(exc.status, "Something went wrong")
        return error_page(request, exc.status, title, exc.message, exc.errors, exc.headers)
    return error_page(request, 400, _TITLES[400], "Some fields are missing or not valid.")


async def require_csrf(request: Request, csrf_token: Annotated[str, Form()] = "") -> None:
    """Runs before the route's body: a POST without a valid token changes nothing."""
    cookie = request.cookies.get(CSRF_COOKIE)
    if not cookie or not csrf_token:
        raise CsrfRejected
    expected = csrf_token_for(_hasher(request), cookie, request.cookies.get(SESSION_COOKIE))
    # As bytes: compare_digest refuses str with non-ASCII characters (a TypeError, a 500).
    if not hmac.compare_digest(expected.encode(), csrf_token.encode("utf-8", "surrogatepass")):
        raise CsrfRejected


CsrfChecked = Depends(require_csrf)


async def signed_in(
    request: Request, session: DbSession, accounts: AccountsDep
) -> tuple[Account, AccountSession]:
    found = await accounts.account_for_session(session, request.cookies.get(SESSION_COOKIE))
    state = request.scope.setdefault("state", {})
    state["dashboard_email"] = found[0].email
    # The navigation shows the workspace pages to a partner only (DESIGN §3.7).
    state["dashboard_partner"] = (
        await credentials.tenant_kind(session, found[0].tenant_id) == "PARTNER"
    )
    return found


SignedIn = Annotated[tuple[Account, AccountSession], Depends(signed_in)]


async def tenant_credentials(session: AsyncSession, tenant_id: str) -> list[Credential]:
    rows, _ = await credentials.list_for_tenant(session, tenant_id, PageParams(page=1, limit=200))
    return rows


async def owned_credential(
    session: AsyncSession, account: Account, credential_id: str, *, for_update: bool = False
) -> Credential:
    """One credential of the signed-in account's tenant; another tenant's is a 404."""
    return await credentials.get_for_tenant(
        session, account.tenant_id, credential_id, for_update=for_update
    )


def field_errors(exc: ValidationError) -> dict[str, list[str]]:
    """A model's validation errors as field → messages. Input values are never echoed."""
    out: dict[str, list[str]] = {}
    for err in exc.errors():
        field = ".".join(str(p) for p in err.get("loc", ())) or "form"
        out.setdefault(field, []).append(str(err.get("msg", "invalid")))
    return out


def form_error(
    request: Request, exc: ValidationFailed, title: str = "Please check the form"
) -> Response:
    """The 400 page of a service's ``ValidationFailed``: each field's problems, or its message."""
    problems = "; ".join(f"{k}: {', '.join(v)}" for k, v in (exc.errors or {}).items())
    return error_page(request, 400, title, problems or exc.message)


def tenant_scopes(request: Request) -> tuple[str, ...]:
    """The scopes the signed-in tenant's keys may hold, for the scope checkboxes: a partner's
    include ``partner:client:act-as`` (``signed_in`` noted the tenant's kind)."""
    partner = request.scope.get("state", {}).get("dashboard_partner", False)
    return scopes_for_kind("PARTNER" if partner else "BUSINESS")


def account_actor(request: Request, account: Account) -> Actor:
    base = request_actor(request)
    return Actor("account", account.id, base.source_ip, base.request_id)
