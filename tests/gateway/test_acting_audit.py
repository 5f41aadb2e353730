"""The audit log marks every product write made while acting (DESIGN §3.7): each write route of
every product, run for a client company over HTTP, leaves one event of the partner's tenant with
the workspace and company ids; the same writes without acting, refused ones and failed ones leave
none, and another partner's ids reach no one's log."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi.routing import APIRoute
from sqlalchemy import select

from fluide.app import App
from fluide.gateway.acting_audit import WRITES
from fluide.gateway.routes import is_product_path, walk
from fluide.identity.models import AuditEvent
from tests.conftest import Dev
from tests.dashboard.support import PASSWORD, create_member, sign_in
from tests.identity.partners.support import (
    acting,
    new_company,
    new_workspace,
    partner_with_companies,
)
from tests.identity.support import client_from
from tests.products.helpers import employee, headers_for

HR, PAYROLL, PAY, BOOKS = "/api/v1/hr", "/api/v1/payroll", "/api/v1/pay", "/api/v1/books"
RULES = {
    "rules": [
        {
            "countryCode": "US",
            "effectiveFrom": "2026-01-01",
            "currency": "USD",
            "bands": [{"upTo": None, "rate": "0.10"}],
            "pensionRate": "0.05",
            "pensionTaxDeductible": False,
            "source": "Tenant's own table",
        }
    ]
}
ENTRY = {
    "date": "2026-11-01",
    "description": "Chairs",
    "currency": "USD",
    "lines": [
        {"accountCode": "6800", "debit": "12.34", "credit": "0"},
        {"accountCode": "1000", "debit": "0", "credit": "12.34"},
    ],
}
PAYOUT = {
    "amount": "10.00",
    "currency": "USD",
    "recipient": {"name": "Ada", "accountNumber": "12345678", "bankCode": "001"},
    "reference": "r1",
}


def write_operations(app: App) -> set[str]:
    """Every product route that writes, by operationId (a new one joins this test by itself)."""
    return {
        info.route.operation_id or info.path
        for info in walk(app.fastapi.routes)
        if isinstance(info.route, APIRoute) and is_product_path(info.path) and info.methods & WRITES
    }


async def _call(
    client: httpx.AsyncClient, h: dict[str, str], method: str, path: str, body: Any = None
) -> dict[str, Any]:
    resp = await client.request(method, path, json=body, headers=h)
    assert resp.status_code < 400, (method, path, resp.text)
    out: dict[str, Any] = resp.json() if resp.content else {}
    out["_request_id"] = resp.headers["x-request-id"]
    return out


async def every_write(client: httpx.AsyncClient, h: dict[str, str]) -> dict[str, str]:
    """Each product write once, as ``h``: operationId → the request id that made it."""
    done: dict[str, str] = {}

    async def call(op: str, method: str, path: str, body: Any = None) -> dict[str, Any]:
        out = await _call(client, h, method, path, body)
        done[op] = out["_request_id"]
        return out

    kept = await call("hr.employees.create", "POST", f"{HR}/employees", employee("A1"))
    gone = await call("hr.employees.create", "POST", f"{HR}/employees", employee("A2"))
    await call("hr.employees.update", "PATCH", f"{HR}/employees/{kept['id']}", {"designation": "x"})
    await call("hr.employees.delete", "DELETE", f"{HR}/employees/{gone['id']}")
    period = {"periodMonth": 11, "periodYear": 2026, "payDate": "2026-11-28"}
    run = await call("payroll.runs.create", "POST", f"{PAYROLL}/runs", period)
    await call("payroll.runs.approve", "POST", f"{PAYROLL}/runs/{run['id']}/approve")
    draft = await call(
        "payroll.runs.create", "POST", f"{PAYROLL}/runs", {**period, "periodMonth": 10}
    )
    await call("payroll.runs.delete", "DELETE", f"{PAYROLL}/runs/{draft['id']}")
    await call("payroll.settings.update", "PUT", f"{PAYROLL}/settings", RULES)
    await call("pay.wallets.fund", "POST", f"{PAY}/wallets/NGN/fund", {"amount": "5000000.00"})
    await call("pay.wallets.fund", "POST", f"{PAY}/wallets/USD/fund", {"amount": "100.00"})
    await call("pay.payroll_runs.disburse", "POST", f"{PAY}/payroll-runs/{run['id']}/disburse")
    await call("pay.payouts.create", "POST", f"{PAY}/payouts", PAYOUT)
    account = {"code": "6500", "name": "Rent", "type": "EXPENSE"}
    await call("books.accounts.create", "POST", f"{BOOKS}/accounts", account)
    entry = await call("books.journal_entries.create", "POST", f"{BOOKS}/journal-entries", ENTRY)
    await call("books.journal_entries.void", "POST", f"{BOOKS}/journal-entries/{entry['id']}/void")
    return done


async def events(rt: App, tenant_id: str) -> list[AuditEvent]:
    async with rt.infra.sessionmaker() as session:
        rows = await session.scalars(
            select(AuditEvent).where(AuditEvent.tenant_id == tenant_id).order_by(AuditEvent.id)
        )
        return [e for e in rows if e.details and "method" in e.details]  # product writes


async def test_every_write_while_acting_is_marked_and_no_other(
    client: httpx.AsyncClient, runtime: App
) -> None:
    partner, own, wid, (a, b) = await partner_with_companies(client, runtime)
    other, _, owid, (oa, _) = await partner_with_companies(client, runtime)
    await every_write(client, own)  # the partner's own writes: not acting, no mark
    assert await events(runtime, partner.tenant_id) == []

    done = await every_write(client, acting(own, wid, a))
    assert set(done) == write_operations(runtime)  # every write route of every product
    marked = await events(runtime, partner.tenant_id)
    assert {e.action for e in marked} == set(done)
    for e in marked:
        assert e.details is not None
        assert (e.details["workspaceId"], e.details["companyId"]) == (wid, a)
        assert e.details["method"] in WRITES and 200 <= e.details["status"] < 300
        assert e.details["route"].startswith("/api/v1/") and a not in e.details["route"]
        assert (e.outcome, e.actor_type, e.actor_id) == (
            "success",
            "credential",
            partner.credential_id,
        )
        assert e.credential_id == partner.credential_id
    assert {e.request_id for e in marked} >= set(done.values())

    # Refused and failed writes change nothing and leave nothing.
    before = len(marked)
    narrow = await headers_for(client, partner, scope="hr:write")
    for h, status in (
        (acting(narrow, wid, a), 403),  # no partner:client:act-as
        (acting(own, owid, oa), 404),  # the other partner's workspace
        (acting(own, wid, oa), 404),  # the other partner's company
        (acting(own, wid, b), 400),  # a body the route refuses
    ):
        body = {"employeeCode": ""} if status == 400 else employee("B1")
        resp = await client.post(f"{HR}/employees", json=body, headers=h)
        assert resp.status_code == status, resp.text
    resp = await client.patch(
        f"{HR}/employees/emp_missing", json={"designation": "x"}, headers=acting(own, wid, b)
    )
    assert resp.status_code == 404
    assert len(await events(runtime, partner.tenant_id)) == before
    assert await events(runtime, other.tenant_id) == []


async def test_the_audit_api_and_page_show_the_mark(
    client: httpx.AsyncClient, runtime: App, app: App
) -> None:
    member = await create_member(runtime, partner=True)
    dev = Dev(
        member.account_id, member.tenant_id, member.credential_id, member.api_key, member.api_secret
    )
    own = await headers_for(client, dev)
    wid = await new_workspace(client, own)
    cid = await new_company(client, own, wid)
    made = await _call(client, acting(own, wid, cid), "POST", f"{HR}/employees", employee("M1"))
    await _call(client, own, "POST", f"{HR}/employees", employee("M2"))  # its own: no mark
    async with client_from(app, "127.0.0.2") as browser:
        signin = await browser.post(
            "/api/v1/auth/signin", json={"email": member.email, "password": PASSWORD}
        )
        session = {"Authorization": f"Bearer {signin.json()['sessionToken']}"}
        listed = await browser.get(
            "/api/v1/auth/audit", params={"action": "hr.employees.create"}, headers=session
        )
        assert listed.status_code == 200, listed.text
        [event] = listed.json()["items"]
        assert event["details"]["workspaceId"] == wid and event["details"]["companyId"] == cid
        assert event["requestId"] == made["_request_id"]
        assert event["credentialId"] == member.credential_id
        await sign_in(browser, member.email)
        page = await browser.get("/connect/audit", params={"action": "hr.employees.create"})
        assert page.status_code == 200
        assert "1 event" in page.text
        assert f"companyId={cid}" in page.text and f"workspaceId={wid}" in page.text
