"""What a request needs from identity: who acts, the developer token session, and the identity
services a route uses (built once, ``identity.part``, found on ``app.state.identity``). The
account session's dependencies are the accounts package's (``accounts.deps``); other packages
import all of them from ``identity.deps``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from fluide.catalog import Access, declares
from fluide.identity.audit import Actor
from fluide.identity.authn import check_caller, read_headers
from fluide.identity.credentials import Credentials
from fluide.identity.principal import Principal
from fluide.identity.session_tokens import SessionTokens
from fluide.identity.state import IdentityState
from fluide.identity.tokens import Tokens
from fluide.kit.proxies import scope_client_address
from fluide.kit.uow import get_infra


def identity_part(request: Request) -> Any:
    """The ``Identity`` this app was built with (typed by each getter below)."""
    return request.app.state.identity


def identity_state(request: Request) -> IdentityState:
    state: IdentityState = identity_part(request).state
    return state


def request_actor(request: Request) -> Actor:
    return Actor(
        "anonymous",
        None,
        scope_client_address(request.scope, get_infra(request).proxies),
        request.scope.get("state", {}).get("request_id"),
    )


@declares(Access.DEVELOPER)
def developer_principal(request: Request) -> Principal:
    """Bearer + client id (+ API key if sent, and then it must match): checks 2–10
    (``identity.authn``), no database. Check 1 (a secret header: 400 and the exposure flag)
    ran in the gateway's middleware before routing."""
    principal = check_caller(
        read_headers(request.scope["headers"]),
        identity_state(request),
        get_infra(request).clock().timestamp(),
        peer=request.client.host if request.client else None,
        require_api_key=False,
    )
    request.scope.setdefault("state", {})["principal"] = principal
    return principal


def principal_actor(request: Request, principal: Principal) -> Actor:
    base = request_actor(request)
    return Actor("credential", principal.credential_id, base.source_ip, base.request_id)


# The async wrappers keep FastAPI from running these on the thread pool.


async def _credentials(request: Request) -> Credentials:
    credentials: Credentials = identity_part(request).credentials
    return credentials


async def _tokens(request: Request) -> Tokens:
    tokens: Tokens = identity_part(request).tokens
    return tokens


async def _session_tokens(request: Request) -> SessionTokens:
    session_tokens: SessionTokens = identity_part(request).session_tokens
    return session_tokens


CredentialsDep = Annotated[Credentials, Depends(_credentials)]
TokensDep = Annotated[Tokens, Depends(_tokens)]
SessionTokensDep = Annotated[SessionTokens, Depends(_session_tokens)]


async def _actor_dependency(request: Request) -> Actor:
    return request_actor(request)


@declares(Access.DEVELOPER)
async def _principal_dependency(request: Request) -> Principal:
    return developer_principal(request)


ActorDep = Annotated[Actor, Depends(_actor_dependency)]
PrincipalDep = Annotated[Principal, Depends(_principal_dependency)]
