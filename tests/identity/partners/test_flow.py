"""Issue 20's "done when": one partner credential runs hire → payroll → pay → books for two
client companies, and nothing of one is visible from the other or from the partner's own."""

from __future__ import annotations

from decimal import Decimal

import httpx

from fluide.app import App
from tests.identity.partners.support import acting, partner_with_companies
from tests.products.helpers import approved_run, fund, settle_all


async def _books(client: httpx.AsyncClient, h: dict[str, str]) -> dict[str, dict[str, str]]:
    resp = await client.get("/api/v1/books/trial-balance?currency=NGN", headers=h)
    assert resp.status_code == 200, resp.text
    assert resp.json()["balanced"] is True
    return {line["accountCode"]: line for line in resp.json()["lines"]}


async def test_one_credential_runs_two_companies_apart(
    client: httpx.AsyncClient, runtime: App
) -> None:
    _, own, wid, (a, b) = await partner_with_companies(client, runtime)
    ha, hb = acting(own, wid, a), acting(own, wid, b)
    run_a = await approved_run(client, ha, [("1200000.00", "0123456789")])
    run_b = await approved_run(client, hb, [("2400000.00", "0987654321"), ("600000", "1111111111")])
    await fund(client, ha, "500000.00")
    await fund(client, hb, "900000.00")
    for h, run in ((ha, run_a), (hb, run_b)):
        resp = await client.post(f"/api/v1/pay/payroll-runs/{run['id']}/disburse", headers=h)
        assert resp.status_code == 201, resp.text
    # Each company's run is unknown to the other and to the partner's own data.
    for h, run in ((hb, run_a), (ha, run_b), (own, run_a), (own, run_b)):
        for path in (
            f"/api/v1/payroll/runs/{run['id']}",
            f"/api/v1/payroll/payslips/{run['payslips'][0]['id']}",
        ):
            assert (await client.get(path, headers=h)).status_code == 404
        resp = await client.post(f"/api/v1/pay/payroll-runs/{run['id']}/disburse", headers=h)
        assert resp.status_code == 404
    await settle_all(runtime)

    for h, run, funded, n in ((ha, run_a, "500000.00", 1), (hb, run_b, "900000.00", 2)):
        employees = (await client.get("/api/v1/hr/employees", headers=h)).json()
        assert employees["total"] == n
        payouts = (await client.get("/api/v1/pay/payouts", headers=h)).json()["items"]
        assert len(payouts) == n and all(p["status"] == "SUCCEEDED" for p in payouts)
        assert {p["payrollRunId"] for p in payouts} == {run["id"]}
        books = await _books(client, h)
        assert books["6000"]["debit"] == run["totals"]["gross"]
        assert Decimal(books["3000"]["credit"]) == Decimal(funded)
        paid = sum(Decimal(p["amount"]) for p in payouts)
        wallet = (await client.get("/api/v1/pay/wallets", headers=h)).json()["items"]
        assert [Decimal(w["balance"]) for w in wallet] == [Decimal(funded) - paid]
    # The partner's own books and lists hold nothing of either company.
    assert (await client.get("/api/v1/hr/employees", headers=own)).json()["total"] == 0
    assert (await client.get("/api/v1/pay/payouts", headers=own)).json()["total"] == 0
    assert (await client.get("/api/v1/pay/wallets", headers=own)).json()["items"] == []
    entries = (await client.get("/api/v1/books/journal-entries", headers=own)).json()
    assert entries["total"] == 0
