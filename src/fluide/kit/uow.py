"""One unit of work per request: the request's session commits or rolls back at its end, and
then runs the after-commit hooks. Routes and services never commit.

``DbSession`` is the request's session (FastAPI ``scope="function"``: it ends before the
response is sent). When the request succeeds it commits, then calls every
``Infrastructure.after_commit`` hook with what the services noted on the session
(``note``): identity drops the exchange's snapshot of a changed credential and applies a
revocation in this process before the answer leaves (``identity.part``). When the request
fails (an exception, or a route class that answers a failure with a page: ``fail``) it rolls
back, unless a service asked for the work to stand (``keep``).

Two failures must still write, and do so through here rather than by committing themselves:

- a wrong verification code counts the attempt (``keep``: the failing request commits);
- a *denial* audit row must survive the rollback of the request's work (``audit.record_denial``):
  ``start_over`` rolls the work back at once, then the row is added and kept, so it lands in a
  transaction of its own (on the same connection: a second one would wait on the SQLite write
  lock the first holds).

The token exchange takes no session (group commit, ``kit.group_commit``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from fluide.kit.infra import Infrastructure

_NOTES = "fluide.notes"  # session.info: what the work changed, for the after-commit hooks
_KEEP = "fluide.keep"  # session.info: commit even though the request fails
_FAILED = "fluide.failed"  # scope["state"]: the request failed though no exception left it


def get_infra(request: Request) -> Infrastructure:
    infra: Infrastructure = request.app.state.infra
    return infra


def note(session: AsyncSession) -> dict[str, Any]:
    """What this unit of work changed, for the after-commit hooks (each part its own keys)."""
    notes: dict[str, Any] = session.info.setdefault(_NOTES, {})
    return notes


def keep(session: AsyncSession) -> None:
    """Commit the work so far even though the request is about to fail."""
    session.info[_KEEP] = True


async def start_over(session: AsyncSession) -> None:
    """Roll the request's work (and what it noted) back now; what follows is a new transaction."""
    await session.rollback()
    session.info.pop(_NOTES, None)
    session.info.pop(_KEEP, None)


def fail(request: Request) -> None:
    """The request failed although it answers normally (a page showing the error): roll back."""
    request.scope.setdefault("state", {})[_FAILED] = True


async def _db_session(request: Request) -> AsyncIterator[AsyncSession]:
    infra = get_infra(request)
    async with infra.sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await _end(infra, session, failed=True)
            raise
        await _end(infra, session, failed=bool(request.scope.get("state", {}).get(_FAILED)))


async def _end(infra: Infrastructure, session: AsyncSession, *, failed: bool) -> None:
    if failed and not session.info.pop(_KEEP, False):
        await session.rollback()
        return
    notes = session.info.pop(_NOTES, None)
    committed = False
    try:
        await session.commit()
        committed = True
    finally:
        if notes:
            for hook in infra.after_commit:
                await hook(notes, committed)


DbSession = Annotated[AsyncSession, Depends(_db_session, scope="function")]


async def _infra_dependency(request: Request) -> Infrastructure:
    # async: FastAPI runs a plain ``def`` dependency on the thread pool, a costly hop per request.
    return get_infra(request)


InfraDep = Annotated[Infrastructure, Depends(_infra_dependency)]
