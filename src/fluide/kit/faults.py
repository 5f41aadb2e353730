"""Dependency faults: a database or Redis that cannot be reached is a 503 the client retries.

One place decides what counts as an outage (``fault_of``); the error handlers (``kit.errors``),
the last-resort middleware (``kit.middleware``) and the dashboard's pages ask it, and answer
``DependencyUnavailable`` (503 ``SERVICE_UNAVAILABLE`` with ``Retry-After``) instead of a 500.
A 500 tells a client "our bug, do not retry"; an outage is a 503 that clients and the SDK retry.

``Outages`` logs one warning when a dependency goes away and one when it returns (per process),
whoever notices: the database probe, the change feed's poll, a request, the Redis subscription.

``SafeRetry`` re-runs a GET or HEAD once when its database connection was found dead (a pooled
connection a server restart cut): SQLAlchemy has invalidated the pool by then, so the second
run gets a fresh connection, and a read is safe to run twice. Writes are never re-run here: a
write whose fate is unknown is a 503, safe to replay with the same ``Idempotency-Key``.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fluide.kit.errors import ServiceUnavailable

log = logging.getLogger("fluide.faults")

# Seconds a client is told to wait. Short: the pool replaces dead connections at once, so the
# service is back within a probe interval of the dependency (the SDK's 3 retries span ~6 s).
RETRY_AFTER_SECONDS = 2
DATABASE, REDIS = "database", "redis"
FAULT = "fluide.fault"  # scope["state"]: the fault this request met (for SafeRetry)

# SQLite errors that say "not now" rather than "your bug": another process holds the lock, the
# file cannot be written or opened, the disk is full or failing.
_SQLITE_OUTAGE = (
    "database is locked",
    "database is busy",
    "readonly database",
    "unable to open database",
    "disk i/o error",
    "database or disk is full",
)


class DependencyUnavailable(ServiceUnavailable):
    """A dependency (database, Redis) cannot be reached now: 503 with ``Retry-After``."""

    def __init__(self) -> None:
        super().__init__(headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


@dataclass(frozen=True)
class Fault:
    dependency: str
    # The connection died under a statement (not "could not connect", not a timeout): a read
    # run again gets a fresh connection from the invalidated pool.
    connection_lost: bool


def fault_of(exc: BaseException) -> Fault | None:
    """The outage ``exc`` reports, or None when it is anything else (a bug stays a 500).

    Looks through what ``exc`` wraps: a DBAPIError's driver error (``orig``), causes and
    contexts, each once."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        fault = _direct(current)
        if fault is not None:
            return fault
        orig = getattr(current, "orig", None)
        for inner in (orig, current.__cause__, current.__context__):
            if isinstance(inner, BaseException):
                todo.append(inner)
    return None


def _direct(exc: BaseException) -> Fault | None:
    import asyncpg.exceptions as pg  # type: ignore[import-untyped]
    import redis.exceptions as rx
    from sqlalchemy import exc as sa

    if isinstance(exc, rx.ConnectionError | rx.TimeoutError):
        return Fault(REDIS, connection_lost=False)
    if isinstance(exc, sa.DBAPIError) and exc.connection_invalidated:
        return Fault(DATABASE, connection_lost=True)
    if isinstance(exc, pg.ConnectionDoesNotExistError | pg.InterfaceError):
        # "connection was closed in the middle of operation" / "connection is closed"
        return Fault(DATABASE, connection_lost=True)
    if isinstance(
        exc,
        pg.PostgresConnectionError  # class 08: cannot connect, rejected, failure
        | pg.CannotConnectNowError  # the server is starting or shutting down
        | pg.AdminShutdownError
        | pg.CrashShutdownError
        | pg.TooManyConnectionsError
        | sa.TimeoutError  # no pooled connection came free in time
        | sa.DisconnectionError,
    ):
        return Fault(DATABASE, connection_lost=False)
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc).lower()
        if any(part in text for part in _SQLITE_OUTAGE):
            return Fault(DATABASE, connection_lost=False)
    if isinstance(exc, ConnectionError | TimeoutError):
        # Refused, reset or timed out at the socket (TimeoutError: a connect or statement
        # timeout). Only the database and Redis are reached on a request's path.
        # asyncpg raises a plain ConnectionError for a socket that went away under it.
        lost = isinstance(exc, ConnectionError) and not isinstance(exc, ConnectionRefusedError)
        return Fault(DATABASE, connection_lost=lost)
    return None


class Outages:
    """One warning per dependency when it goes away and one when it returns (per process)."""

    def __init__(self) -> None:
        self._down: dict[str, str] = {}

    def is_down(self, dependency: str) -> bool:
        return dependency in self._down

    def down(self, dependency: str, exc: BaseException | None = None) -> None:
        if dependency in self._down:
            return
        kind = type(exc).__name__ if exc is not None else "unknown"
        self._down[dependency] = kind
        log.warning(
            f"{dependency} unreachable",
            extra={"dependency": dependency, "error_type": kind},
        )

    def up(self, dependency: str) -> None:
        if self._down.pop(dependency, None) is not None:
            log.warning(f"{dependency} reachable again", extra={"dependency": dependency})


# Process-wide: a dependency is down for everything in this process alike.
OUTAGES = Outages()


def noted(scope: Scope, exc: BaseException) -> DependencyUnavailable | None:
    """The 503 for ``exc`` if it is an outage (noted on the request and in ``OUTAGES``)."""
    fault = fault_of(exc)
    if fault is None:
        return None
    scope.setdefault("state", {})[FAULT] = fault
    OUTAGES.down(fault.dependency, exc)
    return DependencyUnavailable()


class SafeRetry:
    """Pure ASGI: a GET or HEAD whose database connection was found dead is run once more."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        received: list[Message] = []

        async def recording() -> Message:
            message = await receive()
            received.append(message)
            return message

        held = await self._first(scope, recording, send)
        if not held:
            return
        scope.setdefault("state", {}).pop(FAULT, None)
        replay = iter(list(received))

        async def replaying() -> Message:
            return next(replay, None) or await receive()

        await self.app(scope, replaying, send)

    async def _first(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Run once; True when the answer was a lost connection's 503, held back unsent."""
        started = holding = False

        async def maybe_hold(message: Message) -> None:
            nonlocal started, holding
            if message["type"] == "http.response.start":
                fault: Any = scope.get("state", {}).get(FAULT)
                holding = message["status"] == 503 and bool(fault and fault.connection_lost)
                started = not holding
            if not holding:
                await send(message)

        try:
            await self.app(scope, receive, maybe_hold)
        except Exception as exc:
            if holding:
                return True
            fault = fault_of(exc)
            if started or fault is None or not fault.connection_lost:
                raise
            return True
        return holding
