"""Issue 23: a database or Redis outage is a 503 with Retry-After on every route, never a 500
or a hang; nothing acknowledged is lost; dead pooled connections are replaced; one warning per
outage; the guard's hot path keeps serving from memory; the SDK rides out a short outage.

The real app (ASGI transport) on the real PostgreSQL and Redis, each reached through a
``FaultProxy`` (tests/reliability/faultproxy.py) the test cuts, pauses and restores: the
outside is what breaks, the app is not touched.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fluide.app import App, create_app
from fluide.identity import formats
from fluide.kit import faults
from tests.conftest import REDIS_URL, create_dev, make_settings, redis_or_skip, truncate_pg
from tests.products.helpers import employee, headers_for
from tests.reliability.faultproxy import FaultProxy
from tests.reliability.report import COUNTS

HR = "/api/v1/hr/employees"
JE = "/api/v1/books/journal-entries"
COUNTRIES = "/api/v1/utils/countries"  # needs no database: served from memory behind the guard
CONNECT_TIMEOUT, STATEMENT_TIMEOUT = 1.0, 2.0
# The longest a request may take while a dependency is down: the connect (or pool) wait, a
# statement's timeout, and slack for a loaded machine. Never a hang.
BOUND = CONNECT_TIMEOUT + STATEMENT_TIMEOUT + 3.0


@pytest.fixture
async def pg_proxy(pg_database: str) -> AsyncIterator[FaultProxy]:
    await truncate_pg(pg_database)
    proxy = FaultProxy(pg_database, 5432)
    await proxy.start()
    yield proxy
    await proxy.stop()


@pytest.fixture
async def redis_proxy() -> AsyncIterator[FaultProxy]:
    proxy = FaultProxy(redis_or_skip(REDIS_URL), 6379)
    await proxy.start()
    yield proxy
    await proxy.stop()


@pytest.fixture
async def rt(tmp_path: Path, pg_proxy: FaultProxy, redis_proxy: FaultProxy) -> AsyncIterator[App]:
    settings = make_settings(
        tmp_path,
        pg_proxy.url,
        redis_url=redis_proxy.url,
        redis_prefix=f"t{uuid.uuid4().hex[:10]}:",
        db_pool_size=3,
        db_connect_timeout_seconds=CONNECT_TIMEOUT,
        db_statement_timeout_seconds=STATEMENT_TIMEOUT,
    )
    faults.OUTAGES.__init__()  # type: ignore[misc]  # a fresh process's view
    app = create_app(settings)
    async with app.lifespan():
        yield app


@pytest.fixture
async def http(rt: App) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=rt, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def headers(rt: App, http: httpx.AsyncClient) -> dict[str, str]:
    return await headers_for(http, await create_dev(rt))


def assert_unavailable(resp: httpx.Response) -> None:
    """The outage's answer: 503 SERVICE_UNAVAILABLE in the envelope, with Retry-After."""
    assert resp.status_code == 503, (resp.status_code, resp.text[:300])
    assert resp.headers["retry-after"] == str(faults.RETRY_AFTER_SECONDS)
    body = resp.json()
    assert body["code"] == "SERVICE_UNAVAILABLE" and body["success"] is False
    assert body["statusCode"] == 503 and body["requestId"] == resp.headers["x-request-id"]
    COUNTS["fault_503s"] += 1


async def timed(coro: Any) -> httpx.Response:
    started = time.monotonic()
    resp: httpx.Response = await coro
    assert time.monotonic() - started < BOUND, "a request hung past its bound"
    return resp


def warnings_of(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(1 for r in caplog.records if r.name == "fluide.faults" and r.getMessage() == text)


async def until_ok(http: httpx.AsyncClient, path: str, headers: dict[str, str]) -> float:
    """Seconds until ``path`` answers 200 again (at most 5)."""
    started = time.monotonic()
    while time.monotonic() - started < 5:
        resp = await http.get(path, headers=headers)
        assert resp.status_code in (200, 503), resp.text[:300]
        if resp.status_code == 200:
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} did not come back")


async def test_database_down_is_503_everywhere_and_back_within_2s(
    rt: App,
    http: httpx.AsyncClient,
    headers: dict[str, str],
    pg_proxy: FaultProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="fluide.faults")
    created = await http.post(HR, headers=headers, json=employee("E1"))
    assert created.status_code == 201, created.text
    dev = await create_dev(rt)

    await pg_proxy.refuse()
    pg_proxy.cut()
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", HR, {"headers": headers}),
        ("GET", f"{HR}/{created.json()['id']}", {"headers": headers}),
        ("POST", HR, {"headers": headers, "json": employee("E2")}),
        ("POST", JE, {"headers": {**headers, "Idempotency-Key": "k1"}, "json": _entry()}),
        ("POST", "/api/v1/authorize/token", {"headers": dev.exchange_headers()}),
        ("GET", "/api/v1/authorize/current", {"headers": headers}),
        ("POST", "/api/v1/auth/signin", {"json": {"email": "a@example.com", "password": "x" * 12}}),
    ]
    for _ in range(3):  # every time, not only the first
        for method, path, kw in requests:
            assert_unavailable(await timed(http.request(method, path, **kw)))
    # A dashboard page (its session is looked up): a friendly page, a 503 with Retry-After.
    http.cookies.set("fluide_session", formats.new_session_token())
    page = await timed(http.get("/connect/keys"))
    http.cookies.clear()
    assert page.status_code == 503 and page.headers["retry-after"] == "2"
    assert "text/html" in page.headers["content-type"]
    # The guard's hot path needs no database: a valid token still reads what needs none.
    assert (await timed(http.get(COUNTRIES, headers=headers))).status_code == 200
    health = await http.get("/api/v1/hr/health", headers=headers)
    await asyncio.sleep(0.7)  # the probe's next tick
    health = await http.get("/api/v1/hr/health", headers=headers)
    assert health.status_code == 503 and health.json()["checks"]["database"] == "down"

    await pg_proxy.restore()
    assert await until_ok(http, HR, headers) < 2.0
    listed = await http.get(HR, headers=headers)
    assert [e["id"] for e in listed.json()["items"]] == [created.json()["id"]]
    await asyncio.sleep(0.7)
    assert warnings_of(caplog, "database unreachable") == 1
    assert warnings_of(caplog, "database reachable again") == 1


async def test_a_database_that_stops_answering_is_a_bounded_503(
    rt: App, http: httpx.AsyncClient, headers: dict[str, str], pg_proxy: FaultProxy
) -> None:
    assert (await http.get(HR, headers=headers)).status_code == 200
    pg_proxy.pause()  # connections stay open; nothing comes back
    reads = [timed(http.get(HR, headers=headers)) for _ in range(4)]
    writes = [timed(http.post(HR, headers=headers, json=employee(f"P{i}"))) for i in range(2)]
    for resp in await asyncio.gather(*reads, *writes):
        assert_unavailable(resp)
    pg_proxy.cut()
    pg_proxy.resume()
    assert await until_ok(http, HR, headers) < 2.0


async def test_dead_pooled_connections_are_replaced_without_failing_a_read(
    rt: App, http: httpx.AsyncClient, headers: dict[str, str], pg_proxy: FaultProxy
) -> None:
    # Warm the pool, then cut every connection (a restart): the next requests get new ones.
    await asyncio.gather(*(http.get(HR, headers=headers) for _ in range(3)))
    pg_proxy.cut()
    assert (await http.get(HR, headers=headers)).status_code == 200
    assert (await http.post(HR, headers=headers, json=employee("D1"))).status_code == 201
    # A connection that dies under a read's statement: the read runs again, on a fresh one.
    pg_proxy.delay(0.3)
    read = asyncio.create_task(http.get(HR, headers=headers))
    await asyncio.sleep(0.15)
    pg_proxy.cut()
    pg_proxy.delay(0)
    resp = await read
    assert resp.status_code == 200, resp.text
    assert resp.json()["total"] == 1
    COUNTS["fault_reads_rerun"] += 1


async def test_a_write_cut_midway_is_503_and_replays_once(
    rt: App, http: httpx.AsyncClient, headers: dict[str, str], pg_proxy: FaultProxy
) -> None:
    h = {**headers, "Idempotency-Key": f"je-{uuid.uuid4().hex}"}
    body = _entry()
    pg_proxy.delay(0.3)
    write = asyncio.create_task(http.post(JE, headers=h, json=body))
    await asyncio.sleep(0.5)
    pg_proxy.cut()
    pg_proxy.delay(0)
    first = await write
    assert first.status_code in (201, 503), first.text  # never a 500
    if first.status_code == 503:
        assert_unavailable(first)
    again = await timed(http.post(JE, headers=h, json=body))
    assert again.status_code == 201, again.text
    if first.status_code == 201:
        assert again.json() == first.json()
    listed = (await http.get(JE, headers=headers)).json()
    assert listed["total"] == 1  # written once, whatever the first attempt's fate


async def test_no_token_is_handed_out_whose_audit_row_is_not_durable(
    rt: App, http: httpx.AsyncClient, pg_proxy: FaultProxy
) -> None:
    dev = await create_dev(rt)
    issued: list[str] = []

    async def exchange() -> None:
        resp = await http.post("/api/v1/authorize/token", headers=dev.exchange_headers())
        assert resp.status_code in (200, 503), resp.text[:300]
        if resp.status_code == 200:
            issued.append(resp.json()["jti"])
        else:
            assert_unavailable(resp)

    await asyncio.gather(*(exchange() for _ in range(5)))
    pg_proxy.delay(0.2)
    burst = asyncio.gather(*(exchange() for _ in range(10)))
    await asyncio.sleep(0.1)
    await pg_proxy.refuse()
    pg_proxy.cut()
    await burst
    refused = 15 - len(issued)
    assert refused > 0, "the cut refused nothing: the test proved nothing"
    await pg_proxy.restore()
    pg_proxy.delay(0)
    before = len(issued)
    while len(issued) == before:  # back: exchanges are served again
        await exchange()
    stored, audited = await _durable_jtis(rt)
    assert set(issued) <= stored, "a token was handed out without its row"
    assert set(issued) <= audited, "a token was handed out without its audit row"


async def test_redis_stop_keeps_serving_and_warns_once(
    rt: App,
    http: httpx.AsyncClient,
    headers: dict[str, str],
    redis_proxy: FaultProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="fluide.faults")
    dev = await create_dev(rt)
    await redis_proxy.refuse()
    redis_proxy.cut()
    ended = time.monotonic() + 3.0
    while time.monotonic() < ended:
        for path in (COUNTRIES, HR):
            assert (await http.get(path, headers=headers)).status_code == 200
        resp = await http.post("/api/v1/authorize/token", headers=dev.exchange_headers())
        assert resp.status_code == 200, resp.text[:300]
        await asyncio.sleep(0.1)
    await redis_proxy.restore()
    await asyncio.sleep(1.5)  # the subscription's next attempt
    assert warnings_of(caplog, "redis unreachable") == 1
    assert warnings_of(caplog, "redis reachable again") == 1


def _entry() -> dict[str, Any]:
    return {
        "date": "2026-11-01",
        "description": "fault test",
        "currency": "USD",
        "lines": [
            {"accountCode": "6800", "debit": "1.00", "credit": "0"},
            {"accountCode": "1000", "debit": "0", "credit": "1.00"},
        ],
    }


async def _durable_jtis(rt: App) -> tuple[set[str], set[str]]:
    """The jtis of the issued-token rows, and those the audit log names."""
    from sqlalchemy import select

    from fluide.identity.models import AuditEvent, IssuedToken

    async with rt.infra.sessionmaker() as session:
        stored = set((await session.execute(select(IssuedToken.jti))).scalars())
        details = (await session.execute(select(AuditEvent.details))).scalars()
        audited = {str(d.get("jti")) for d in details if isinstance(d, dict)}
    return stored, audited


async def test_an_sdk_client_rides_out_a_3s_database_cut(
    rt: App, http: httpx.AsyncClient, headers: dict[str, str], pg_proxy: FaultProxy
) -> None:
    from fluide.client import AsyncFluideClient

    dev = await create_dev(rt)
    transport = _Counting(app=rt)
    async with AsyncFluideClient(
        "http://testserver", dev.api_key, dev.api_secret, transport=transport
    ) as sdk:
        made = await sdk.hr.employees.create(**_employee_fields("S1"))
        reads = writes = 0
        cut_at = time.monotonic()
        await pg_proxy.refuse()
        pg_proxy.cut()
        restore = asyncio.get_running_loop().call_later(
            3.0, lambda: asyncio.ensure_future(pg_proxy.restore())
        )
        try:
            # Reads, and POSTs the server deduplicates (an Idempotency-Key), through the cut
            # and past it: not one error reaches the caller.
            while time.monotonic() - cut_at < 5.0:
                assert (await sdk.hr.employees.get(made.id)).id == made.id
                reads += 1
                entry = _entry()
                await sdk.books.journal_entries.create(
                    date=entry["date"],
                    description=f"sdk {writes}",
                    currency="USD",
                    lines=[
                        {"account_code": "6800", "debit": "1.00"},
                        {"account_code": "1000", "credit": "1.00"},
                    ],
                )
                writes += 1
        finally:
            restore.cancel()
            await pg_proxy.restore()
    listed = (await http.get(JE, headers=await headers_for(http, dev))).json()
    assert listed["total"] == writes  # each acknowledged once, none twice
    assert transport.statuses[503] > 0, "the SDK met no outage: the test proved nothing"
    assert transport.statuses[500] == 0
    COUNTS["fault_sdk_calls"] += reads + writes


def _employee_fields(code: str) -> dict[str, Any]:
    body = employee(code)
    return {
        "employee_code": body["employeeCode"],
        "first_name": body["firstName"],
        "last_name": body["lastName"],
        "email": body["email"],
        "salary": body["salary"],
        "currency": body["currency"],
        "hire_date": body["hireDate"],
        "country_code": body["countryCode"],
    }


class _Counting(httpx.ASGITransport):
    """The ASGI transport, counting the statuses the SDK was answered with."""

    def __init__(self, app: Any) -> None:
        super().__init__(app=app)
        self.statuses: Counter[int] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        resp = await super().handle_async_request(request)
        self.statuses[resp.status_code] += 1
        return resp


async def test_a_key_claimed_before_an_outage_is_released_when_it_ends(
    rt: App, pg_proxy: FaultProxy
) -> None:
    """A write that claimed its Idempotency-Key and then met an outage (the release failing
    too) does not leave the key in progress: it is released once the database answers, so
    the client's replay runs the work (once) instead of waiting for the claim to go stale."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from fluide.kit import idempotency

    runs = 0

    async def work(session: Any) -> tuple[int, Any]:
        nonlocal runs
        runs += 1
        if runs == 1:  # the outage begins while the work runs
            await pg_proxy.refuse()
            pg_proxy.cut()
        await session.execute(text("SELECT 1"))
        return 201, {"run": runs}

    async def call() -> Any:
        return await idempotency.execute(
            rt.infra.sessionmaker,
            rt.infra.clock,
            tenant_id="t-1",
            key="release-me",
            request_hash="h",
            work=work,
            wait_seconds=3.0,
        )

    with pytest.raises((SQLAlchemyError, OSError)) as outage:
        await call()
    assert faults.fault_of(outage.value) is not None
    await asyncio.sleep(1.0)
    await pg_proxy.restore()
    await asyncio.sleep(1.0)  # the deferred release's next attempt
    started = time.monotonic()
    replay = await call()
    assert replay.status_code == 201 and runs == 2
    assert time.monotonic() - started < 1.0  # no wait on a stale claim
