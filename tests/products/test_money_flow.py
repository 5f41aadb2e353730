"""Issue 7, end to end through HTTP: hire → payroll → approve → fund → disburse → settle → books."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx

from fluide.app import App
from tests.conftest import Dev
from tests.products.helpers import create_employee, employee, headers_for, settle_all

FAILING_ACCOUNT = "4455660000"


def d(text: str) -> Decimal:
    return Decimal(text)


async def test_payroll_to_ledger_to_the_cent(
    client: httpx.AsyncClient, dev: Dev, runtime: App
) -> None:
    h = await headers_for(client, dev)
    people = [
        ("3600000.00", "0123456789"),
        ("1234567.89", "0987654321"),
        ("987654.35", FAILING_ACCOUNT),
    ]
    for i, (salary, account) in enumerate(people):
        await create_employee(client, h, employee(f"E{i}", salary, account))

    resp = await client.post(
        "/api/v1/payroll/runs",
        json={"periodMonth": 11, "periodYear": 2026, "payDate": "2026-11-28"},
        headers=h,
    )
    assert resp.status_code == 201, resp.text
    run = resp.json()
    assert run["status"] == "DRAFT" and run["currency"] == "NGN"
    slips = run["payslips"]
    assert len(slips) == 3
    totals = run["totals"]
    for slip in slips:
        tax, pension = (d(x["amount"]) for x in slip["deductions"])
        assert d(slip["gross"]) == tax + pension + d(slip["net"])
    assert d(totals["gross"]) == sum(d(s["gross"]) for s in slips)
    assert d(totals["net"]) == sum(d(s["net"]) for s in slips)
    assert d(totals["gross"]) == d(totals["incomeTax"]) + d(totals["pension"]) + d(totals["net"])

    # Disbursing a draft is refused; approval locks the run and posts to Books.
    resp = await client.post(f"/api/v1/pay/payroll-runs/{run['id']}/disburse", headers=h)
    assert resp.json()["code"] == "PAYROLL_RUN_NOT_APPROVED"
    resp = await client.post(f"/api/v1/payroll/runs/{run['id']}/approve", headers=h)
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "APPROVED" and resp.json()["journalEntryId"]
    for again in (
        client.post(f"/api/v1/payroll/runs/{run['id']}/approve", headers=h),
        client.delete(f"/api/v1/payroll/runs/{run['id']}", headers=h),
    ):
        resp = await again
        assert resp.status_code == 409 and resp.json()["code"] == "PAYROLL_RUN_LOCKED"

    # Not enough money: refused, and nothing debited.
    net_total = d(totals["net"])
    short = f"{net_total - d('0.01'):.2f}"
    resp = await client.post("/api/v1/pay/wallets/NGN/fund", json={"amount": short}, headers=h)
    assert resp.status_code == 200
    resp = await client.post(f"/api/v1/pay/payroll-runs/{run['id']}/disburse", headers=h)
    assert resp.status_code == 400 and resp.json()["code"] == "WALLET_INSUFFICIENT_BALANCE"
    assert (await _wallet(client, h))["balance"] == short
    resp = await client.post("/api/v1/pay/wallets/NGN/fund", json={"amount": "1000.01"}, headers=h)
    funded = d(short) + d("1000.01")
    assert resp.json()["balance"] == f"{funded:.2f}"

    resp = await client.post(
        f"/api/v1/pay/payroll-runs/{run['id']}/disburse",
        headers={**h, "Idempotency-Key": "disburse-nov"},
    )
    assert resp.status_code == 201, resp.text
    disbursed = resp.json()
    assert disbursed["payoutCount"] == 3 and d(disbursed["total"]) == net_total
    assert (await _wallet(client, h))["balance"] == f"{funded - net_total:.2f}"

    await settle_all(runtime)
    resp = await client.get(f"/api/v1/pay/payouts?runId={run['id']}", headers=h)
    payouts = resp.json()["items"]
    by_status = {p["recipient"]["accountNumber"]: p["status"] for p in payouts}
    assert by_status == {
        "0123456789": "SUCCEEDED",
        "0987654321": "SUCCEEDED",
        FAILING_ACCOUNT: "FAILED",
    }
    failed = next(p for p in payouts if p["status"] == "FAILED")
    assert failed["failureReason"]
    paid = sum(d(p["amount"]) for p in payouts if p["status"] == "SUCCEEDED")
    wallet_balance = d((await _wallet(client, h))["balance"])
    assert wallet_balance == funded - paid  # the failed payout was refunded

    resp = await client.get("/api/v1/books/trial-balance?currency=NGN", headers=h)
    assert resp.status_code == 200, resp.text
    tb = resp.json()
    assert tb["balanced"] is True
    (ngn,) = tb["totals"]
    assert ngn["debit"] == ngn["credit"]
    acct = {line["accountCode"]: line for line in tb["lines"]}
    assert acct["6000"]["debit"] == totals["gross"] and acct["6000"]["credit"] == "0.00"
    assert acct["2200"]["credit"] == totals["incomeTax"]
    assert acct["2300"]["credit"] == totals["pension"]
    assert acct["2100"]["credit"] == totals["net"]
    assert d(acct["2100"]["debit"]) == paid  # net pay still owed = the failed payout
    assert d(acct["2100"]["balance"]) == -d(failed["amount"])
    assert acct["1150"]["balance"] == "0.00"  # nothing left in transit
    assert d(acct["1100"]["balance"]) == wallet_balance  # wallet = ledger
    assert d(acct["3000"]["credit"]) == funded


async def _wallet(client: httpx.AsyncClient, h: dict[str, str]) -> dict[str, Any]:
    resp = await client.get("/api/v1/pay/wallets", headers=h)
    assert resp.status_code == 200, resp.text
    (wallet,) = [w for w in resp.json()["items"] if w["currency"] == "NGN"]
    out: dict[str, Any] = wallet
    return out
