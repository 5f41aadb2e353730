"""Bounded mixed load against 2 server processes on PostgreSQL (+ Redis when configured).

Many async clients spread exchanges, developer-session reads, guarded product reads and
secret rotations (with grace) over both processes. Nothing may fail: zero 5xx, zero refused
requests, and every acknowledged rotation and exchange is in the audit log afterwards.

CI runs the short form (20 s). The soak: ``FLUIDE_SOAK_SECONDS=600 pytest -m slow
tests/reliability/test_load.py`` (with the PostgreSQL/Redis variables set).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from fluide.identity.models import AuditEvent
from fluide.runtime import Runtime
from tests.conftest import CLIENT_ID, REDIS_URL, create_dev, make_settings
from tests.reliability.crash import CredentialLedger, Rotation, Tally, send
from tests.reliability.leaks import register_secret
from tests.reliability.report import COUNTS
from tests.reliability.server import KEK, PEPPER, ServerProcess, server_env

SECONDS = float(os.environ.get("FLUIDE_SOAK_SECONDS", "20"))
WORKERS = int(os.environ.get("FLUIDE_SOAK_WORKERS", "32"))
CREDENTIALS = 8


@pytest.fixture
async def side_runtime(tmp_path: Path, database_url: str) -> AsyncIterator[Runtime]:
    settings = make_settings(tmp_path / "side", database_url, pepper=PEPPER, key_encryption_key=KEK)
    rt = Runtime(settings)
    yield rt
    await rt.engine.dispose()


class MixedLoad:
    def __init__(self, ledgers: list[CredentialLedger], rng: random.Random) -> None:
        self.ledgers = ledgers
        self.rng = rng
        self.tally = Tally()
        self.ops: Counter[str] = Counter()
        self.unexpected: list[str] = []
        self.exchanges_acked: set[str] = set()
        # Per credential, the secret of the rotation that committed last. Answers to
        # concurrent rotations can arrive out of order; ``rotatedAt`` is taken under the
        # row lock, so it orders them as the database did.
        self.newest: dict[str, tuple[datetime, str]] = {
            ledger.dev.credential_id: (datetime.min.replace(tzinfo=UTC), ledger.dev.api_secret)
            for ledger in ledgers
        }
        self.rotations_started: Counter[str] = Counter()
        self.rotations_in_flight: Counter[str] = Counter()
        self.raced = 0

    def _check(self, what: str, resp: httpx.Response | None, expected: int = 200) -> bool:
        if resp is None or resp.status_code != expected:
            status = "no answer" if resp is None else f"{resp.status_code} {resp.text[:160]}"
            self.unexpected.append(f"{what}: {status}")
            return False
        return True

    async def worker(self, n: int, clients: list[httpx.AsyncClient], deadline: float) -> None:
        ledger = self.ledgers[n % len(self.ledgers)]
        token: str | None = None
        while time.monotonic() < deadline:
            client = self.rng.choice(clients)
            roll = self.rng.random()
            cid = ledger.dev.credential_id
            if token is None or roll < 0.15:
                started, in_flight = self.rotations_started[cid], self.rotations_in_flight[cid]
                out = await send(
                    client,
                    self.tally,
                    "exchange",
                    "POST",
                    "/api/v1/authorize/token",
                    headers=ledger.dev.exchange_headers(secret=self.newest[cid][1]),
                )
                self.ops["exchange"] += 1
                if (
                    out.response is not None
                    and out.response.status_code == 401
                    and (in_flight or self.rotations_started[cid] != started)
                ):
                    # Rotations by the other workers overtook ours: the secret we read as
                    # newest was already two rotations old. Not a failure; read it again.
                    self.raced += 1
                    continue
                if not self._check("exchange", out.response):
                    return
                assert out.response is not None
                self.exchanges_acked.add(out.request_id)
                token = str(out.response.json()["accessToken"])
                continue
            headers = {
                "Authorization": f"Bearer {token}",
                "X-Fluide-Client-Id": CLIENT_ID,
                "X-Fluide-Api-Key": ledger.dev.api_key,
            }
            if roll < 0.55:
                out = await send(
                    client,
                    self.tally,
                    "current",
                    "GET",
                    "/api/v1/authorize/current",
                    headers=headers,
                )
                self.ops["current"] += 1
                self._check("current", out.response)
            elif roll < 0.95:
                out = await send(
                    client, self.tally, "hr health", "GET", "/api/v1/hr/health", headers=headers
                )
                self.ops["hr_health"] += 1
                self._check("hr health", out.response)
            else:
                self.rotations_started[cid] += 1
                self.rotations_in_flight[cid] += 1
                out = await send(
                    client,
                    self.tally,
                    "rotate",
                    "POST",
                    "/api/v1/authorize/rotate-secret",
                    headers=headers,
                    json={"graceSeconds": 3600},
                )
                self.rotations_in_flight[cid] -= 1
                self.ops["rotate"] += 1
                if self._check("rotate", out.response):
                    assert out.response is not None
                    body = out.response.json()
                    secret = str(body["apiSecret"])
                    register_secret(secret)
                    rotated_at = datetime.fromisoformat(body["rotatedAt"].replace("Z", "+00:00"))
                    self.newest[cid] = max(self.newest[cid], (rotated_at, secret))
                    ledger.acked[out.request_id] = Rotation(out.request_id, secret, 3600)
                    ledger.secrets.append(secret)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["postgres"])
async def test_mixed_load_on_two_processes(
    tmp_path: Path, database_url: str, side_runtime: Runtime
) -> None:
    env_settings = {
        "db_pool_size": "5",
        "exchange_failure_limit": "1000000/minute",
        "exchange_failure_limit_long": "1000000/hour",
    }
    if REDIS_URL:
        env_settings["redis_url"] = REDIS_URL
    servers = [
        ServerProcess(
            tmp_path / f"server{i}",
            server_env(tmp_path / f"server{i}", database_url, **env_settings),
        )
        for i in range(2)
    ]
    for s in servers:
        s.data_dir.mkdir()
    servers[0].start()  # the first applies migrations and creates the keys; then the second
    try:
        servers[1].start()
        devs = [await create_dev(side_runtime) for _ in range(CREDENTIALS)]
        load = MixedLoad([CredentialLedger(d, [d.api_secret]) for d in devs], random.Random(7))
        limits = httpx.Limits(max_connections=WORKERS)
        clients = [
            httpx.AsyncClient(base_url=s.base_url, timeout=30.0, limits=limits) for s in servers
        ]
        started = time.monotonic()
        try:
            await asyncio.gather(
                *(load.worker(n, clients, started + SECONDS) for n in range(WORKERS))
            )
        finally:
            for c in clients:
                await c.aclose()
        elapsed = time.monotonic() - started
    finally:
        for s in servers:
            s.stop()

    assert not load.tally.five_xx, load.tally.five_xx[:5]
    assert load.tally.unknown == load.tally.refused == 0
    assert not load.unexpected, load.unexpected[:10]
    assert load.ops["rotate"] > 0 and load.ops["hr_health"] > 0

    async with side_runtime.sessionmaker() as session:
        rotations = set(
            (
                await session.scalars(
                    select(AuditEvent.request_id).where(
                        AuditEvent.action == "credential.rotate_secret"
                    )
                )
            ).all()
        )
        exchanges = set(
            (
                await session.scalars(
                    select(AuditEvent.request_id).where(
                        AuditEvent.action == "token.exchange", AuditEvent.outcome == "success"
                    )
                )
            ).all()
        )
    acked_rotations = {rid for ledger in load.ledgers for rid in ledger.acked}
    assert acked_rotations <= rotations
    assert load.exchanges_acked <= exchanges

    COUNTS["load_requests"] += load.tally.requests
    COUNTS["load_rotations_acked"] += len(acked_rotations)
    COUNTS["load_seconds"] += round(elapsed)
    COUNTS["load_exchanges_overtaken_by_rotations"] += load.raced
    for op, n in load.ops.items():
        COUNTS[f"load_{op}"] += n
