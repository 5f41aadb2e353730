"""Issue 23's "done when", measured: two ``fluide serve`` processes on PostgreSQL + Redis, each
reached through a ``FaultProxy``, under a mixed load of reads, writes, idempotent writes and
exchanges; a 3 s database cut, then a 7 s Redis stop.

Expected: zero 500s; every failure a 503 ``SERVICE_UNAVAILABLE`` with ``Retry-After``, and
only while the database is away or within 2 s of its return (none for Redis); every
acknowledged write read back; an idempotent write replayed with its key until acknowledged is
stored once; an SDK read loop with no error; one warning per outage per process.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from fluide.app import App, create_app
from fluide.client import AsyncFluideClient
from tests.conftest import (
    REDIS_URL,
    Dev,
    bearer,
    create_dev,
    make_settings,
    redis_or_skip,
    truncate_pg,
)
from tests.products.helpers import employee
from tests.reliability.faultproxy import FaultProxy
from tests.reliability.report import COUNTS
from tests.reliability.server import KEK, PEPPER, ServerProcess, server_env

pytestmark = pytest.mark.slow

WORKERS = 8
DB_CUT = (2.0, 5.0)  # seconds into the run: cut, restore
REDIS_STOP = (7.0, 14.0)
END = 16.0
RECOVERY = 2.0  # full service this long after the database returns
HR, JE = "/api/v1/hr/employees", "/api/v1/books/journal-entries"


@dataclass
class Run:
    started: float = field(default_factory=time.monotonic)
    statuses: Counter[int] = field(default_factory=Counter)
    late_503s: list[tuple[float, str]] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)
    employees: dict[str, str] = field(default_factory=dict)  # id → tenant
    entries: dict[str, int] = field(default_factory=Counter)  # tenant → acknowledged keys

    def at(self) -> float:
        return time.monotonic() - self.started

    def seen(self, what: str, resp: httpx.Response, ok: int) -> bool:
        self.statuses[resp.status_code] += 1
        if resp.status_code == ok:
            return True
        if resp.status_code != 503:
            self.bad.append(f"{what}: {resp.status_code} {resp.text[:120]}")
            return False
        body = resp.json()
        if body.get("code") != "SERVICE_UNAVAILABLE" or not resp.headers.get("retry-after"):
            self.bad.append(f"{what}: 503 without the envelope or Retry-After")
        t = self.at()
        if not DB_CUT[0] <= t <= DB_CUT[1] + RECOVERY:
            self.late_503s.append((round(t, 2), what))
        return False


async def _worker(run: Run, n: int, client: httpx.AsyncClient, devs: list[Dev]) -> None:
    rng = random.Random(n)
    dev = devs[n % len(devs)]
    token = ""
    while run.at() < END:
        if not token or rng.random() < 0.1:
            resp = await client.post("/api/v1/authorize/token", headers=dev.exchange_headers())
            if run.seen("exchange", resp, 200):
                token = resp.json()["accessToken"]
            if not token:
                await asyncio.sleep(0.1)
                continue
        h = bearer(token, dev)
        roll = rng.random()
        if roll < 0.4:
            run.seen("read", await client.get(f"{HR}?limit=5", headers=h), 200)
        elif roll < 0.6:
            resp = await client.post(HR, headers=h, json=employee(f"W{uuid.uuid4().hex[:8]}"))
            if run.seen("write", resp, 201):
                run.employees[resp.json()["id"]] = dev.tenant_id
        elif roll < 0.8:
            await _idempotent_entry(run, client, h, dev)
        else:
            run.seen("memory", await client.get("/api/v1/utils/countries", headers=h), 200)


async def _idempotent_entry(
    run: Run, client: httpx.AsyncClient, h: dict[str, str], dev: Dev
) -> None:
    """Post one entry, replaying it with the same key after a 503 until it is acknowledged."""
    key = uuid.uuid4().hex
    body = {
        "date": "2026-11-01",
        "description": key,
        "currency": "USD",
        "lines": [
            {"accountCode": "6800", "debit": "1.00", "credit": "0"},
            {"accountCode": "1000", "debit": "0", "credit": "1.00"},
        ],
    }
    while True:
        resp = await client.post(JE, headers={**h, "Idempotency-Key": key}, json=body)
        if run.seen("idempotent write", resp, 201):
            run.entries[dev.tenant_id] += 1
            return
        if resp.status_code != 503:
            return
        await asyncio.sleep(float(resp.headers.get("retry-after", "1")) / 4)


async def _sdk_reads(run: Run, base_url: str, dev: Dev) -> int:
    """An SDK client reading the whole time: not one error may reach it."""
    calls = 0
    async with AsyncFluideClient(base_url, dev.api_key, dev.api_secret) as sdk:
        made = await sdk.hr.employees.create(
            employee_code=f"SDK{uuid.uuid4().hex[:6]}",
            first_name="S",
            last_name="D",
            email=f"sdk-{uuid.uuid4().hex[:6]}@example.com",
            salary="1000.00",
            currency="NGN",
            hire_date="2024-01-15",
            country_code="NG",
        )
        while run.at() < END:
            assert (await sdk.hr.employees.get(made.id)).id == made.id
            calls += 1
            await asyncio.sleep(0.05)
    return calls


@pytest.fixture
async def side(tmp_path: Path, pg_database: str) -> AsyncIterator[App]:
    """An app straight on the database (no proxy): setup and read-back."""
    await truncate_pg(pg_database)
    settings = make_settings(tmp_path / "side", pg_database, pepper=PEPPER, key_encryption_key=KEK)
    app = create_app(settings)
    async with app.lifespan():
        yield app


async def test_mixed_load_through_a_database_cut_and_a_redis_stop(
    tmp_path: Path, pg_database: str, side: App
) -> None:
    pg = FaultProxy(pg_database, 5432)
    rd = FaultProxy(redis_or_skip(REDIS_URL), 6379)
    await pg.start()
    await rd.start()
    prefix = f"f{uuid.uuid4().hex[:8]}:"
    servers = []
    for i in range(2):
        data = tmp_path / f"server{i}"
        data.mkdir()
        env = server_env(
            data,
            pg.url,
            redis_url=rd.url,
            redis_prefix=prefix,
            db_connect_timeout_seconds="1",
            db_statement_timeout_seconds="2",
            log_json="true",
        )
        servers.append(ServerProcess(data, env))
    try:
        for s in servers:  # in a thread: the proxies run on this loop
            await asyncio.to_thread(s.start)
        devs = [await create_dev(side) for _ in range(3)]
        run = await _drive(servers, devs, pg, rd)
        logs = "".join(s._log_path().read_text(errors="replace") for s in servers)
    finally:
        for s in servers:
            await asyncio.to_thread(s.stop)
        await pg.stop()
        await rd.stop()

    assert run.statuses[500] == 0 and not run.bad, run.bad[:10]
    assert run.statuses[503] > 0, "the cut refused nothing: the test proved nothing"
    assert not run.late_503s, run.late_503s[:10]
    await _read_back(side, run, devs)
    # One warning per outage per process (each process notices on its own), none per second.
    assert 1 <= logs.count("database unreachable") <= 2
    assert 1 <= logs.count("redis unreachable") <= 2
    assert "redis subscription lost" not in logs and "revocation poll failed" not in logs
    COUNTS["fault_load_requests"] += sum(run.statuses.values())
    COUNTS["fault_load_503s"] += run.statuses[503]


async def _drive(
    servers: list[ServerProcess], devs: list[Dev], pg: FaultProxy, rd: FaultProxy
) -> Run:
    run = Run()
    limits = httpx.Limits(keepalive_expiry=1.0)
    clients = [httpx.AsyncClient(base_url=s.base_url, timeout=30.0, limits=limits) for s in servers]

    async def outages() -> None:
        for (down, back), proxy in ((DB_CUT, pg), (REDIS_STOP, rd)):
            await asyncio.sleep(max(0.0, down - run.at()))
            await proxy.refuse()
            proxy.cut()
            await asyncio.sleep(max(0.0, back - run.at()))
            await proxy.restore()

    try:
        workers = [_worker(run, n, clients[n % 2], devs) for n in range(WORKERS)]
        *_, sdk_calls = await asyncio.gather(
            outages(), *workers, _sdk_reads(run, servers[1].base_url, devs[0])
        )
    finally:
        for c in clients:
            await c.aclose()
    COUNTS["fault_load_sdk_reads"] += sdk_calls
    return run


async def _read_back(side: App, run: Run, devs: list[Dev]) -> None:
    from sqlalchemy import func, select

    from fluide.products.books.models import JournalEntry
    from fluide.products.hr.models import Employee

    async with side.infra.sessionmaker() as session:
        stored = set((await session.scalars(select(Employee.id))).all())
        assert set(run.employees) <= stored, "an acknowledged write was lost"
        for dev in devs:
            count = await session.scalar(
                select(func.count()).where(JournalEntry.tenant_id == dev.tenant_id)
            )
            assert count == run.entries[dev.tenant_id], "an idempotent write stored twice or lost"
