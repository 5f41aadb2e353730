"""kill -9 during secret rotations and during payroll disbursement: nothing acknowledged is lost.

A real ``fluide serve`` process (SQLite file, or PostgreSQL) is SIGKILLed at random moments
while workers rotate secrets, then restarted on the same port and database. Afterwards every
secret any client ever saw is probed with an exchange: exactly the current one is valid (and
the previous one while its grace window runs); every acknowledged rotation and exchange is in
the audit log and no rotation appears there that nobody asked for.

The second scenario disburses approved payroll runs (``POST /api/v1/pay/payroll-runs/{id}/
disburse`` with an ``Idempotency-Key``, retried after every connection error) while the server,
and its settlement worker with it, is killed: afterwards no payslip is paid twice, every payout
is SUCCEEDED or FAILED (failed ones refunded), wallet = Books wallet account, and the trial
balance balances.

``FLUIDE_CRASH_KILLS`` (default 5) sets the number of kills of the rotation loop,
``FLUIDE_CRASH_PAY_KILLS`` (default 4) and ``FLUIDE_CRASH_PAY_RUNS`` (default 8 monthly runs)
the disbursement loop's.
"""

from __future__ import annotations

import os
import random
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from fluide.app import App, create_app
from tests.conftest import Dev, bearer, create_dev, make_settings
from tests.products.helpers import employee
from tests.reliability.crash import (
    DisbursementScenario,
    RotationScenario,
    RunLedger,
    kill_loop,
    verify_after,
)
from tests.reliability.report import COUNTS
from tests.reliability.server import KEK, PEPPER, ServerProcess, server_env

KILLS = int(os.environ.get("FLUIDE_CRASH_KILLS", "5"))
PAY_KILLS = int(os.environ.get("FLUIDE_CRASH_PAY_KILLS", "4"))
PAY_RUNS = int(os.environ.get("FLUIDE_CRASH_PAY_RUNS", "8"))
# Ten employees, three of them paid to accounts the sandbox rail rejects (…0000).
STAFF = [
    ("850000.00", "0123456701"),
    ("1200000.00", "0123456702"),
    ("640000.50", "4455660000"),
    ("2300000.00", "0123456703"),
    ("975000.25", "0123456704"),
    ("1500000.00", "7788990000"),
    ("720000.00", "0123456705"),
    ("3100000.75", "0123456706"),
    ("560000.00", "1122330000"),
    ("1010000.00", "0123456707"),
]


@pytest.fixture
async def side_runtime(tmp_path: Path, database_url: str) -> AsyncIterator[App]:
    """The test's own handle on the server's database (same pepper): seeds and audit reads."""
    settings = make_settings(tmp_path / "side", database_url, pepper=PEPPER, key_encryption_key=KEK)
    rt = create_app(settings)
    yield rt
    await rt.infra.engine.dispose()


@pytest.mark.slow
async def test_kill9_during_rotations(tmp_path: Path, database_url: str, side_runtime: App) -> None:
    rng = random.Random(int(os.environ.get("FLUIDE_CRASH_SEED", "20261128")))
    server = ServerProcess(
        tmp_path / "server",
        server_env(
            tmp_path / "server",
            database_url,
            exchange_failure_limit="1000000/minute",
            exchange_failure_limit_long="1000000/hour",
        ),
    )
    server.data_dir.mkdir()
    server.start()
    try:
        devs = [await create_dev(side_runtime) for _ in range(3)]
        scenario = RotationScenario(devs, rng)
        report = await kill_loop([server], scenario, kills=KILLS, workers=6, rng=rng)
        counts = await verify_after([server], scenario, side_runtime)
    finally:
        server.stop()
    assert report.kills == KILLS
    assert counts["rotations_acked"] > 0
    COUNTS.update({f"crash_{k}": v for k, v in counts.items()})
    COUNTS["crash_kills"] += report.kills


async def _payroll_setup(
    client: httpx.AsyncClient, dev: Dev, runs: int
) -> tuple[dict[str, str], list[RunLedger], Decimal]:
    """Employees, ``runs`` approved monthly runs and a wallet funded for all of them (HTTP)."""
    resp = await client.post("/api/v1/authorize/token", headers=dev.exchange_headers())
    assert resp.status_code == 200, resp.text
    h = bearer(resp.json()["accessToken"], dev)
    for i, (salary, account) in enumerate(STAFF):
        resp = await client.post(
            "/api/v1/hr/employees", json=employee(f"K{i:03d}", salary, account), headers=h
        )
        assert resp.status_code == 201, resp.text
    ledgers = []
    for n in range(runs):
        year, month = 2025 + n // 12, n % 12 + 1
        resp = await client.post(
            "/api/v1/payroll/runs",
            json={"periodMonth": month, "periodYear": year, "payDate": f"{year}-{month:02d}-25"},
            headers=h,
        )
        assert resp.status_code == 201, resp.text
        run = resp.json()
        resp = await client.post(f"/api/v1/payroll/runs/{run['id']}/approve", headers=h)
        assert resp.status_code == 200, resp.text
        slips = {s["id"] for s in run["payslips"] if Decimal(s["net"]) > 0}
        ledgers.append(RunLedger(run["id"], slips, Decimal(run["totals"]["net"])))
    funded = sum((r.net_total for r in ledgers), Decimal("1000.00"))
    resp = await client.post(
        "/api/v1/pay/wallets/NGN/fund", json={"amount": f"{funded:.2f}"}, headers=h
    )
    assert resp.status_code == 200, resp.text
    return h, ledgers, funded


@pytest.mark.slow
async def test_kill9_during_payroll_disbursement(
    tmp_path: Path, database_url: str, side_runtime: App
) -> None:
    rng = random.Random(int(os.environ.get("FLUIDE_CRASH_SEED", "20261128")))
    server = ServerProcess(
        tmp_path / "server",
        server_env(
            tmp_path / "server",
            database_url,
            # Shortened so a key or a payout left behind by a killed process is taken over
            # within the bounded run (defaults: 120 s and 60 s).
            idempotency_stale_seconds="2",
            settlement_lease_seconds="2",
            settlement_poll_seconds="0.2",
            token_ttl_seconds="3600",
        ),
    )
    server.data_dir.mkdir()
    server.start()
    try:
        dev = await create_dev(side_runtime)
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30.0) as client:
            headers, runs, funded = await _payroll_setup(client, dev, PAY_RUNS)
        scenario = DisbursementScenario(dev.tenant_id, headers, runs, funded, rng)
        report = await kill_loop([server], scenario, kills=PAY_KILLS, workers=4, rng=rng)
        counts = await verify_after([server], scenario, side_runtime)
    finally:
        server.stop()
    assert report.kills == PAY_KILLS
    assert counts["payouts_checked"] == PAY_RUNS * len(STAFF)
    assert counts["payouts_failed_refunded"] == PAY_RUNS * 3
    COUNTS.update({f"crash_pay_{k}": v for k, v in counts.items() if k != "refunded"})
    COUNTS["crash_pay_kills"] += report.kills
