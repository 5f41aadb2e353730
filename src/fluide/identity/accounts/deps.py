"""The account session's request dependencies: the accounts services, and the signed-in
account (a session token as Bearer, or the dashboard's cookie)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from fluide.catalog import Access, declares
from fluide.identity.accounts.service import Accounts
from fluide.identity.accounts.signin import SignIn
from fluide.identity.models import Account, AccountSession
from fluide.identity.request import identity_part
from fluide.kit.uow import DbSession

SESSION_COOKIE = "fluide_session"


def session_token_of(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.cookies.get(SESSION_COOKIE)


# async: FastAPI runs a plain ``def`` dependency on the thread pool.
async def _accounts(request: Request) -> Accounts:
    accounts: Accounts = identity_part(request).accounts
    return accounts


async def _signin(request: Request) -> SignIn:
    signin: SignIn = identity_part(request).signin
    return signin


AccountsDep = Annotated[Accounts, Depends(_accounts)]
SignInDep = Annotated[SignIn, Depends(_signin)]


@declares(Access.ACCOUNT)
async def account_session(
    request: Request, session: DbSession, accounts: AccountsDep
) -> tuple[Account, AccountSession]:
    return await accounts.account_for_session(session, session_token_of(request))


AccountSessionDep = Annotated[tuple[Account, AccountSession], Depends(account_session)]
