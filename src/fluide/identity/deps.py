"""Request dependencies: who acts, the developer token session, the account session."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from fluide.identity import accounts
from fluide.identity.audit import Actor
from fluide.identity.errors import ApiSecretNotAllowed
from fluide.identity.models import Account, AccountSession
from fluide.identity.principal import Principal, authenticate
from fluide.kit.proxies import scope_client_address
from fluide.runtime import DbSession, get_runtime

SESSION_COOKIE = "fluide_session"


def request_actor(request: Request) -> Actor:
    rt = get_runtime(request)
    return Actor(
        "anonymous",
        None,
        scope_client_address(request.scope, rt.proxies),
        request.scope.get("state", {}).get("request_id"),
    )


def developer_principal(request: Request) -> Principal:
    """Bearer + client id (+ API key if sent, and then it must match). No database.

    Check 1 (a secret header: 400 and the exposure flag) ran in the gateway middleware before
    routing; refused here too, unflagged, should the app run without that middleware.
    """
    rt = get_runtime(request)
    h = request.headers
    if "x-fluide-api-secret" in h:
        raise ApiSecretNotAllowed
    principal = authenticate(
        authorization=h.get("authorization"),
        api_key=h.get("x-fluide-api-key"),
        client_id=h.get("x-fluide-client-id"),
        keyset=rt.keyset,
        view=rt.view,
        issuer=rt.settings.issuer,
        now=rt.clock().timestamp(),
        leeway=rt.settings.token_leeway_seconds,
        require_api_key=False,
    )
    request.scope.setdefault("state", {})["principal"] = principal
    return principal


def principal_actor(request: Request, principal: Principal) -> Actor:
    base = request_actor(request)
    return Actor("credential", principal.credential_id, base.source_ip, base.request_id)


def session_token_of(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.cookies.get(SESSION_COOKIE)


async def account_session(request: Request, session: DbSession) -> tuple[Account, AccountSession]:
    rt = get_runtime(request)
    return await accounts.account_for_session(rt, session, session_token_of(request))


async def _actor_dependency(request: Request) -> Actor:
    # The async wrappers keep FastAPI from running these on the thread pool.
    return request_actor(request)


async def _principal_dependency(request: Request) -> Principal:
    return developer_principal(request)


ActorDep = Annotated[Actor, Depends(_actor_dependency)]
PrincipalDep = Annotated[Principal, Depends(_principal_dependency)]
AccountSessionDep = Annotated[tuple[Account, AccountSession], Depends(account_session)]
