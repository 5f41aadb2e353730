"""The settlement worker: state machine, refunds, crash recovery, racing workers."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import update

from fluide.app import App, create_app
from fluide.kit.clock import FrozenClock
from fluide.products.pay import settlement
from fluide.products.pay.models import Payout
from tests.conftest import Dev
from tests.products.helpers import fund, headers_for, settle_all

PAY = "/api/v1/pay"


def payout(account: str, amount: str = "10.00", ref: str = "r") -> dict[str, Any]:
    return {
        "amount": amount,
        "currency": "USD",
        "recipient": {"name": "Ada", "accountNumber": account, "bankCode": "001"},
        "reference": ref,
    }


async def _ledger(client: httpx.AsyncClient, h: dict[str, str]) -> dict[str, Any]:
    tb = (await client.get("/api/v1/books/trial-balance?currency=USD", headers=h)).json()
    assert tb["balanced"] is True
    return {line["accountCode"]: line for line in tb["lines"]}


async def _balance(client: httpx.AsyncClient, h: dict[str, str]) -> str:
    items = (await client.get(f"{PAY}/wallets", headers=h)).json()["items"]
    return str(next(w["balance"] for w in items if w["currency"] == "USD"))


async def test_success_and_failure_with_refund(
    client: httpx.AsyncClient, dev: Dev, runtime: App
) -> None:
    h = await headers_for(client, dev)
    await fund(client, h, "100.00", "USD")
    ok = (await client.post(f"{PAY}/payouts", json=payout("12345678", "30.00"), headers=h)).json()
    bad = (await client.post(f"{PAY}/payouts", json=payout("99990000", "20.00"), headers=h)).json()
    assert ok["status"] == bad["status"] == "PENDING"
    assert await _balance(client, h) == "50.00"
    await settle_all(runtime)
    ok = (await client.get(f"{PAY}/payouts/{ok['id']}", headers=h)).json()
    bad = (await client.get(f"{PAY}/payouts/{bad['id']}", headers=h)).json()
    assert ok["status"] == "SUCCEEDED" and ok["settledAt"] and ok["failureReason"] is None
    assert bad["status"] == "FAILED" and "0000" not in bad["failureReason"]
    assert await _balance(client, h) == "70.00"
    acct = await _ledger(client, h)
    assert acct["1100"]["balance"] == "70.00"
    assert acct["1150"]["balance"] == "0.00"
    assert acct["6800"]["debit"] == "30.00"
    resp = await client.get(f"{PAY}/payouts?status=FAILED", headers=h)
    assert [p["id"] for p in resp.json()["items"]] == [bad["id"]]


async def test_racing_workers_settle_each_payout_once(
    client: httpx.AsyncClient, dev: Dev, runtime: App
) -> None:
    h = await headers_for(client, dev)
    await fund(client, h, "100.00", "USD")
    for i in range(6):
        account = "55550000" if i % 3 == 0 else f"1234567{i}"
        resp = await client.post(f"{PAY}/payouts", json=payout(account, "5.00", f"r{i}"), headers=h)
        assert resp.status_code == 201
    await asyncio.gather(*(settlement.settle_once(runtime.infra) for _ in range(4)))
    await settle_all(runtime)
    items = (await client.get(f"{PAY}/payouts", headers=h)).json()["items"]
    assert sorted(p["status"] for p in items) == ["FAILED"] * 2 + ["SUCCEEDED"] * 4
    assert await _balance(client, h) == "80.00"  # 100 - 4 × 5 paid; the 2 failures refunded
    acct = await _ledger(client, h)
    assert acct["1100"]["balance"] == "80.00" and acct["1150"]["balance"] == "0.00"
    entries = (await client.get("/api/v1/books/journal-entries?limit=200", headers=h)).json()
    # 1 funding + 6 payouts + 6 settlements: nothing posted twice.
    assert entries["total"] == 13


async def test_a_payout_left_processing_by_a_crash_is_settled_once(
    client: httpx.AsyncClient, dev: Dev, runtime: App, clock: FrozenClock
) -> None:
    h = await headers_for(client, dev)
    await fund(client, h, "10.00", "USD")
    created = (await client.post(f"{PAY}/payouts", json=payout("12345678"), headers=h)).json()
    # A worker claimed it and died before settling.
    async with runtime.infra.sessionmaker() as session, session.begin():
        await session.execute(
            update(Payout)
            .where(Payout.id == created["id"])
            .values(status="PROCESSING", claimed_at=clock(), attempts=1)
        )
    assert await settlement.settle_once(runtime.infra) == 0  # still leased to the dead worker
    clock.advance(settlement.LEASE.total_seconds() + 1)
    await settle_all(runtime)
    done = (await client.get(f"{PAY}/payouts/{created['id']}", headers=h)).json()
    assert done["status"] == "SUCCEEDED" and done["attempts"] == 2
    # Settling again changes nothing.
    assert await settlement.settle(runtime.infra, created["id"]) is None
    acct = await _ledger(client, h)
    assert acct["6800"]["debit"] == "10.00" and acct["1150"]["balance"] == "0.00"


async def test_insufficient_balance_debits_nothing(client: httpx.AsyncClient, dev: Dev) -> None:
    h = await headers_for(client, dev)
    await fund(client, h, "9.99", "USD")
    resp = await client.post(f"{PAY}/payouts", json=payout("12345678", "10.00"), headers=h)
    assert resp.status_code == 400 and resp.json()["code"] == "WALLET_INSUFFICIENT_BALANCE"
    assert await _balance(client, h) == "9.99"
    assert (await client.get(f"{PAY}/payouts", headers=h)).json()["total"] == 0
    assert Decimal((await _ledger(client, h))["1100"]["balance"]) == Decimal("9.99")


async def test_the_background_worker_settles_on_its_own(
    client: httpx.AsyncClient, dev: Dev
) -> None:
    h = await headers_for(client, dev)
    await fund(client, h, "10.00", "USD")
    created = (await client.post(f"{PAY}/payouts", json=payout("12345678"), headers=h)).json()
    for _ in range(100):  # the worker polls every 0.5 s; bounded wait, no speed assertion
        status = (await client.get(f"{PAY}/payouts/{created['id']}", headers=h)).json()["status"]
        if status == "SUCCEEDED":
            break
        await asyncio.sleep(0.1)
    assert status == "SUCCEEDED"


async def test_balances_stay_exact_in_the_database(client: httpx.AsyncClient, dev: Dev) -> None:
    """0.70 + 0.20 must cover a 0.90 payout (a float column would hold 0.8999…)."""
    h = await headers_for(client, dev)
    await fund(client, h, "0.70", "USD")
    await fund(client, h, "0.20", "USD")
    resp = await client.post(f"{PAY}/payouts", json=payout("12345678", "0.90"), headers=h)
    assert resp.status_code == 201, resp.text
    assert await _balance(client, h) == "0.00"
    assert (await _ledger(client, h))["1100"]["balance"] == "0.00"


async def test_two_processes_share_the_queue(
    client: httpx.AsyncClient, dev: Dev, runtime: App, clock: FrozenClock
) -> None:
    """A second app (own engine and pool) stands in for a second server process."""
    second = create_app(runtime.infra.settings, clock)
    try:
        h = await headers_for(client, dev)
        await fund(client, h, "100.00", "USD")
        for i in range(10):
            account = "77770000" if i == 0 else f"8888888{i}"
            body = payout(account, "3.00", f"m{i}")
            assert (await client.post(f"{PAY}/payouts", json=body, headers=h)).status_code == 201
        await asyncio.gather(
            *(
                settlement.settle_once(rt.infra, batch=3)
                for rt in (runtime, second, runtime, second)
            )
        )
        await settle_all(runtime)
    finally:
        await second.infra.engine.dispose()
    items = (await client.get(f"{PAY}/payouts", headers=h)).json()["items"]
    assert sorted(p["status"] for p in items) == ["FAILED"] + ["SUCCEEDED"] * 9
    assert all(p["attempts"] == 1 for p in items)  # nobody claimed a payout twice
    assert await _balance(client, h) == "73.00"
    entries = (await client.get("/api/v1/books/journal-entries?limit=200", headers=h)).json()
    assert entries["total"] == 1 + 10 + 10
