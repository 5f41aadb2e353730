"""kit.faults: what counts as an outage (and what stays a bug), one warning per outage, and
SafeRetry's one re-run of a read that met a dead connection (never a write, never twice)."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import asyncpg.exceptions as pg  # type: ignore[import-untyped]
import httpx
import pytest
import redis.exceptions as rx
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import exc as sa
from starlette.types import Receive, Scope, Send

from fluide.kit import faults
from fluide.kit.errors import send_error
from fluide.kit.faults import DATABASE, REDIS, Fault, Outages, SafeRetry, fault_of


def _dbapi(orig: BaseException, invalidated: bool = False) -> sa.DBAPIError:
    return sa.DBAPIError("SELECT 1", {}, orig, connection_invalidated=invalidated)


OUTAGES_SEEN: list[tuple[BaseException, Fault]] = [
    (rx.ConnectionError("refused"), Fault(REDIS, False)),
    (rx.TimeoutError("slow"), Fault(REDIS, False)),
    (_dbapi(Exception("x"), invalidated=True), Fault(DATABASE, True)),
    (pg.ConnectionDoesNotExistError("closed mid-operation"), Fault(DATABASE, True)),
    (pg.InterfaceError("connection is closed"), Fault(DATABASE, True)),
    (pg.CannotConnectNowError("starting up"), Fault(DATABASE, False)),
    (pg.AdminShutdownError("terminating"), Fault(DATABASE, False)),
    (pg.TooManyConnectionsError("too many"), Fault(DATABASE, False)),
    (sa.TimeoutError("QueuePool limit"), Fault(DATABASE, False)),
    (ConnectionRefusedError(111, "refused"), Fault(DATABASE, False)),
    (ConnectionResetError(104, "reset"), Fault(DATABASE, True)),
    (TimeoutError(), Fault(DATABASE, False)),
    (ConnectionError("unexpected connection_lost() call"), Fault(DATABASE, True)),
    (sqlite3.OperationalError("database is locked"), Fault(DATABASE, False)),
    (sqlite3.OperationalError("attempt to write a readonly database"), Fault(DATABASE, False)),
]
BUGS: list[BaseException] = [
    ValueError("x"),
    KeyError("k"),
    sa.IntegrityError("INSERT", {}, Exception("duplicate key")),
    _dbapi(Exception("syntax error")),
    sqlite3.OperationalError("no such table: x"),
    pg.UniqueViolationError("duplicate"),
    PermissionError(13, "denied"),
    rx.ResponseError("WRONGTYPE"),
]


@pytest.mark.parametrize(("exc", "fault"), OUTAGES_SEEN, ids=lambda v: type(v).__name__)
def test_outages_are_recognised(exc: BaseException, fault: Fault) -> None:
    assert fault_of(exc) == fault


@pytest.mark.parametrize("exc", BUGS, ids=lambda v: type(v).__name__)
def test_bugs_stay_bugs(exc: BaseException) -> None:
    assert fault_of(exc) is None


def _wrap(inner: BaseException, layers: list[bool]) -> BaseException:
    """``inner`` under layers of bug-looking exceptions, chained as cause (True) or context."""
    current = inner
    for as_cause in layers:
        outer = RuntimeError("wrapper")
        if as_cause:
            outer.__cause__ = current
        else:
            outer.__context__ = current
        current = outer
    return current


@given(
    st.sampled_from(range(len(OUTAGES_SEEN) + len(BUGS))),
    st.lists(st.booleans(), max_size=6),
)
def test_a_chain_is_classified_by_what_it_wraps(index: int, layers: list[bool]) -> None:
    if index < len(OUTAGES_SEEN):
        exc, fault = OUTAGES_SEEN[index]
        assert fault_of(_wrap(exc, layers)) == fault
    else:
        assert fault_of(_wrap(BUGS[index - len(OUTAGES_SEEN)], layers)) is None


def test_a_cyclic_chain_ends() -> None:
    a, b = RuntimeError("a"), RuntimeError("b")
    a.__context__, b.__context__ = b, a
    assert fault_of(a) is None


def test_one_warning_per_outage_and_one_on_return(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="fluide.faults")
    outages = Outages()
    for _ in range(50):
        outages.down(DATABASE, ConnectionRefusedError())
        outages.down(REDIS, rx.ConnectionError())
    for _ in range(5):
        outages.up(DATABASE)
    outages.up(REDIS)
    outages.down(DATABASE)
    messages = [r.getMessage() for r in caplog.records if r.name == "fluide.faults"]
    assert messages == [
        "database unreachable",
        "redis unreachable",
        "database reachable again",
        "redis reachable again",
        "database unreachable",
    ]


class _Flaky:
    """An ASGI app whose first ``fails`` runs meet ``exc`` (raised, or answered as a 503)."""

    def __init__(self, exc: BaseException, fails: int, answer: bool) -> None:
        self.exc, self.fails, self.answer, self.runs = exc, fails, answer, 0
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.runs += 1
        self.bodies.append((await receive()).get("body", b""))
        if self.runs <= self.fails:
            if not self.answer:
                raise self.exc
            unavailable = faults.noted(scope, self.exc)
            assert unavailable is not None
            await send_error(send, 503, unavailable.code, unavailable.message, "rid")
            return
        await send_error(send, 418, "OK_AGAIN", "second run", "rid")


def _state(app: Any) -> Any:
    async def with_state(scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("state", {})
        await app(scope, receive, send)

    return with_state


async def _call(app: _Flaky, method: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=_state(SafeRetry(app)), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.request(method, "/x", content=b"" if method == "GET" else b"{}")


LOST = pg.ConnectionDoesNotExistError("closed mid-operation")


@pytest.mark.parametrize("answer", [True, False], ids=["answered", "raised"])
async def test_a_read_on_a_dead_connection_runs_once_more(answer: bool) -> None:
    app = _Flaky(LOST, fails=1, answer=answer)
    resp = await _call(app, "GET")
    assert (resp.status_code, app.runs) == (418, 2)
    assert app.bodies == [b"", b""]  # the request was handed over again, whole


async def test_a_read_is_run_again_only_once() -> None:
    app = _Flaky(LOST, fails=2, answer=True)
    resp = await _call(app, "GET")
    assert (resp.status_code, app.runs) == (503, 2)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
async def test_a_write_is_never_run_again(method: str) -> None:
    app = _Flaky(LOST, fails=1, answer=True)
    resp = await _call(app, method)
    assert (resp.status_code, app.runs) == (503, 1)


async def test_a_read_that_could_not_connect_is_not_run_again() -> None:
    # The database is down, not one connection dead: a second run would only wait again.
    app = _Flaky(ConnectionRefusedError(111, "refused"), fails=1, answer=True)
    resp = await _call(app, "GET")
    assert (resp.status_code, app.runs) == (503, 1)


async def test_a_bug_is_not_run_again() -> None:
    app = _Flaky(ValueError("bug"), fails=1, answer=False)
    resp = await _call(app, "GET")
    assert resp.status_code == 500 and app.runs == 1


RAISES: dict[str, BaseException] = {
    "refused": ConnectionRefusedError(111, "refused"),
    "redis": rx.ConnectionError("down"),
    "locked": sa.OperationalError("BEGIN", {}, sqlite3.OperationalError("database is locked")),
    "pool": sa.TimeoutError("QueuePool limit reached"),
    "bug": ValueError("a bug"),
    "permission": PermissionError(13, "denied"),
    "sql bug": sa.ProgrammingError("SELEC", {}, Exception("syntax error")),
}


def _service() -> Any:
    from fastapi import FastAPI

    from fluide.kit.errors import install_error_handlers
    from fluide.kit.middleware import RequestIdMiddleware

    app = FastAPI()
    install_error_handlers(app, outage=faults.noted)

    async def boom(name: str) -> None:
        raise RAISES[name]

    async def wrapped() -> None:
        try:
            raise ConnectionResetError(104, "reset")
        except ConnectionResetError as exc:
            raise RuntimeError("while talking to the database") from exc

    app.add_api_route("/wrapped", wrapped, methods=["POST"])
    app.add_api_route("/{name}", boom, methods=["POST"])

    async def lane(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/lane":  # a pure ASGI handler, as the exchange's lane is
            raise ConnectionRefusedError(111, "refused")
        await app(scope, receive, send)

    return RequestIdMiddleware(SafeRetry(lane))


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("refused", 503),
        ("redis", 503),
        ("locked", 503),
        ("pool", 503),
        ("wrapped", 503),
        ("lane", 503),
        ("bug", 500),
        ("permission", 500),
        ("sql bug", 500),
    ],
)
async def test_every_way_an_outage_leaves_is_a_503_and_a_bug_a_500(name: str, status: int) -> None:
    transport = httpx.ASGITransport(app=_service(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        resp = await client.post(f"/{name}")
    body = resp.json()
    assert (resp.status_code, body["statusCode"]) == (status, status)
    assert body["requestId"] == resp.headers["x-request-id"]
    if status == 503:
        assert body["code"] == "SERVICE_UNAVAILABLE"
        assert resp.headers["retry-after"] == str(faults.RETRY_AFTER_SECONDS)
    else:
        assert body["code"] == "INTERNAL_ERROR" and "retry-after" not in resp.headers
    assert "refused" not in resp.text and "locked" not in resp.text  # nothing of the cause
