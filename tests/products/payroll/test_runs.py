"""Payroll through HTTP: settings, runs, payslips, approval into Books."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx

from fluide.app import App
from tests.conftest import Dev, create_dev
from tests.products.helpers import create_employee, employee, headers_for

PAYROLL = "/api/v1/payroll"
RUN = {"periodMonth": 11, "periodYear": 2026, "payDate": "2026-11-28"}


def flat_rules(rate: str = "0.10", pension: str = "0.05") -> dict[str, Any]:
    return {
        "rules": [
            {
                "countryCode": "US",
                "effectiveFrom": "2026-01-01",
                "currency": "USD",
                "bands": [{"upTo": "10000", "rate": "0"}, {"upTo": None, "rate": rate}],
                "pensionRate": pension,
                "pensionTaxDeductible": False,
                "source": "Tenant's own table",
            }
        ]
    }


async def test_default_settings_name_their_sources(client: httpx.AsyncClient, dev: Dev) -> None:
    h = await headers_for(client, dev)
    resp = await client.get(f"{PAYROLL}/settings", headers=h)
    assert resp.status_code == 200
    body = resp.json()
    assert body["origin"] == "DEFAULT" and body["updatedAt"] is None
    countries = {r["countryCode"] for r in body["rules"]}
    assert {"NG", "GB"} <= countries
    for r in body["rules"]:
        assert r["source"].startswith("ILLUSTRATIVE")
        assert r["bands"][-1]["upTo"] is None and isinstance(r["pensionRate"], str)


async def test_tenant_rules_replace_the_defaults(
    client: httpx.AsyncClient, dev: Dev, runtime: App
) -> None:
    h = await headers_for(client, dev)
    resp = await client.put(f"{PAYROLL}/settings", json=flat_rules(), headers=h)
    assert resp.status_code == 200, resp.text
    assert resp.json()["origin"] == "TENANT" and len(resp.json()["rules"]) == 1
    await create_employee(client, h, employee("U1", "34000.00", country="US", currency="USD"))
    run = (await client.post(f"{PAYROLL}/runs", json=RUN, headers=h)).json()
    (slip,) = run["payslips"]
    # gross 2833.33; pension 5% = 141.67; tax (34000 - 10000) × 10% / 12 = 200.00
    assert slip["gross"] == "2833.33"
    assert [d["amount"] for d in slip["deductions"]] == ["200.00", "141.67"]
    assert slip["net"] == "2491.66" and slip["rulesSource"] == "Tenant's own table"
    # Another tenant still has the defaults, and NG has no rules for this tenant any more.
    other = await headers_for(client, await create_dev(runtime))
    assert (await client.get(f"{PAYROLL}/settings", headers=other)).json()["origin"] == "DEFAULT"
    await create_employee(client, h, employee("N1"))
    resp = await client.post(f"{PAYROLL}/runs", json={**RUN, "currency": "NGN"}, headers=h)
    assert resp.status_code == 400 and resp.json()["code"] == "PAYROLL_RULES_MISSING"


async def test_invalid_rules_are_refused(client: httpx.AsyncClient, dev: Dev) -> None:
    h = await headers_for(client, dev)
    bad = flat_rules()
    bad["rules"][0]["bands"] = [{"upTo": "100", "rate": "0.1"}]
    resp = await client.put(f"{PAYROLL}/settings", json=bad, headers=h)
    assert resp.status_code == 400 and resp.json()["code"] == "VALIDATION_FAILED"
    bad = flat_rules(rate="1.5")
    resp = await client.put(f"{PAYROLL}/settings", json=bad, headers=h)
    assert resp.status_code == 400
    bad = flat_rules()
    bad["rules"][0]["pensionRate"] = 0.05
    resp = await client.put(f"{PAYROLL}/settings", json=bad, headers=h)
    assert resp.status_code == 400 and "rules.0.pensionRate" in resp.json()["errors"]
    assert (await client.get(f"{PAYROLL}/settings", headers=h)).json()["origin"] == "DEFAULT"


async def test_run_lifecycle(client: httpx.AsyncClient, dev: Dev) -> None:
    h = await headers_for(client, dev)
    a = await create_employee(client, h, employee("A", "1200000"))
    b = await create_employee(client, h, employee("B", "2400000"))
    await create_employee(client, h, employee("C", "2400000", status="ON_LEAVE"))
    await create_employee(client, h, employee("D", "50000", country="GB", currency="GBP"))

    resp = await client.post(f"{PAYROLL}/runs", json=RUN, headers=h)
    assert resp.status_code == 400 and resp.json()["code"] == "PAYROLL_MIXED_CURRENCIES"
    resp = await client.post(f"{PAYROLL}/runs", json={**RUN, "employeeIds": [a["id"]]}, headers=h)
    assert resp.status_code == 201 and resp.json()["employeeCount"] == 1
    draft = resp.json()
    resp = await client.delete(f"{PAYROLL}/runs/{draft['id']}", headers=h)
    assert resp.status_code == 204
    assert (await client.get(f"{PAYROLL}/runs/{draft['id']}", headers=h)).status_code == 404

    resp = await client.post(f"{PAYROLL}/runs", json={**RUN, "currency": "NGN"}, headers=h)
    run = resp.json()
    assert run["employeeCount"] == 2  # the employee on leave is not paid
    assert {s["employeeId"] for s in run["payslips"]} == {a["id"], b["id"]}
    listed = (await client.get(f"{PAYROLL}/payslips?runId={run['id']}", headers=h)).json()
    assert listed["total"] == 2
    slip = listed["items"][0]
    assert (await client.get(f"{PAYROLL}/payslips/{slip['id']}", headers=h)).json() == slip

    approved = (await client.post(f"{PAYROLL}/runs/{run['id']}/approve", headers=h)).json()
    assert approved["status"] == "APPROVED" and approved["approvedAt"]
    entry = (
        await client.get(f"/api/v1/books/journal-entries/{approved['journalEntryId']}", headers=h)
    ).json()
    assert entry["source"] == "PAYROLL" and entry["totalDebit"] == run["totals"]["gross"]
    lines = {ln["accountCode"]: ln for ln in entry["lines"]}
    assert lines["2100"]["credit"] == run["totals"]["net"]
    assert Decimal(lines["2200"]["credit"]) == Decimal(run["totals"]["incomeTax"])
    runs = (await client.get(f"{PAYROLL}/runs?status=APPROVED", headers=h)).json()
    assert [r["id"] for r in runs["items"]] == [run["id"]]


async def test_unknown_employee_ids_and_nobody_to_pay(client: httpx.AsyncClient, dev: Dev) -> None:
    h = await headers_for(client, dev)
    resp = await client.post(f"{PAYROLL}/runs", json=RUN, headers=h)
    assert resp.status_code == 400 and resp.json()["code"] == "PAYROLL_NO_EMPLOYEES"
    resp = await client.post(f"{PAYROLL}/runs", json={**RUN, "employeeIds": ["emp_x"]}, headers=h)
    assert resp.status_code == 404 and resp.json()["code"] == "EMPLOYEE_NOT_FOUND"
    resp = await client.post(f"{PAYROLL}/runs", json={**RUN, "periodMonth": 13}, headers=h)
    assert resp.status_code == 400 and resp.json()["code"] == "VALIDATION_FAILED"


async def test_a_run_that_pays_nothing_approves_without_a_journal_entry(
    client: httpx.AsyncClient, dev: Dev
) -> None:
    # Regression: the entry for a run with zero gross had no amounts, so approving it answered
    # VALIDATION_FAILED about journal lines the client never sent.
    h = await headers_for(client, dev)
    await create_employee(client, h, employee("ZERO", salary="0"))
    resp = await client.post(f"{PAYROLL}/runs", json=RUN, headers=h)
    assert resp.status_code == 201, resp.text
    run = resp.json()
    assert run["totals"]["gross"] == "0.00"
    resp = await client.post(f"{PAYROLL}/runs/{run['id']}/approve", headers=h)
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "APPROVED"
    assert resp.json()["journalEntryId"] is None
    entries = (await client.get("/api/v1/books/journal-entries", headers=h)).json()
    assert entries["total"] == 0
    again = await client.post(f"{PAYROLL}/runs/{run['id']}/approve", headers=h)
    assert again.status_code == 409 and again.json()["code"] == "PAYROLL_RUN_LOCKED"
