"""Request dependencies: who acts, the developer token session, the account session, and the
identity services a route uses (built once, ``identity.part``, found on ``app.state.identity``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from fluide.identity.accounts.service import Accounts
from fluide.identity.accounts.signin import SignIn
from fluide.identity.audit import Actor
from fluide.identity.authn import check_caller, read_headers
from fluide.identity.credentials import Credentials
from fluide.identity.models import Account, AccountSession
from fluide.identity.principal import Principal
from fluide.identity.session_tokens import SessionTokens
from fluide.identity.state import IdentityState
from fluide.identity.tokens import Tokens
from fluide.kit.proxies import scope_client_address
from fluide.kit.uow import DbSession, get_infra

SESSION_COOKIE = "fluide_session"


def _identity(request: Request) -> Any:
    return request.app.state.identity


def identity_state(request: Request) -> IdentityState:
    state: IdentityState = _identity(request).state
    return state


def request_actor(request: Request) -> Actor:
    return Actor(
        "anonymous",
        None,
        scope_client_address(request.scope, get_infra(request).proxies),
        request.scope.get("state", {}).get("request_id"),
    )


def developer_principal(request: Request) -> Principal:
    """Bearer + client id (+ API key if sent, and then it must match): checks 2–10
    (``identity.authn``), no database. Check 1 (a secret header: 400 and the exposure flag)
    ran in the gateway's middleware before routing."""
    principal = check_caller(
        read_headers(request.scope["headers"]),
        identity_state(request),
        get_infra(request).clock().timestamp(),
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


# The async wrappers keep FastAPI from running these on the thread pool.


async def _accounts(request: Request) -> Accounts:
    accounts: Accounts = _identity(request).accounts
    return accounts


async def _signin(request: Request) -> SignIn:
    signin: SignIn = _identity(request).signin
    return signin


async def _credentials(request: Request) -> Credentials:
    credentials: Credentials = _identity(request).credentials
    return credentials


async def _tokens(request: Request) -> Tokens:
    tokens: Tokens = _identity(request).tokens
    return tokens


async def _session_tokens(request: Request) -> SessionTokens:
    session_tokens: SessionTokens = _identity(request).session_tokens
    return session_tokens


AccountsDep = Annotated[Accounts, Depends(_accounts)]
SignInDep = Annotated[SignIn, Depends(_signin)]
CredentialsDep = Annotated[Credentials, Depends(_credentials)]
TokensDep = Annotated[Tokens, Depends(_tokens)]
SessionTokensDep = Annotated[SessionTokens, Depends(_session_tokens)]


async def account_session(
    request: Request, session: DbSession, accounts: AccountsDep
) -> tuple[Account, AccountSession]:
    return await accounts.account_for_session(session, session_token_of(request))


async def _actor_dependency(request: Request) -> Actor:
    return request_actor(request)


async def _principal_dependency(request: Request) -> Principal:
    return developer_principal(request)


ActorDep = Annotated[Actor, Depends(_actor_dependency)]
PrincipalDep = Annotated[Principal, Depends(_principal_dependency)]
AccountSessionDep = Annotated[tuple[Account, AccountSession], Depends(account_session)]
