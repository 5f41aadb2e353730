"""HR employees through HTTP with a real token: CRUD, scopes, tenancy, validation."""

from __future__ import annotations

import httpx

from fluide.app import App
from tests.conftest import Dev, create_dev
from tests.products.helpers import create_employee, employee, headers_for

BASE = "/api/v1/hr/employees"


async def test_create_get_list_patch_terminate(client: httpx.AsyncClient, dev: Dev) -> None:
    h = await headers_for(client, dev)
    created = await create_employee(client, h, employee("A1", "1234567.895"))
    assert created["salary"] == "1234567.90"  # half-even to the minor unit
    assert created["status"] == "ACTIVE" and created["bankAccount"]["bankCode"] == "058"
    assert set(created) >= {"employeeCode", "firstName", "hireDate", "countryCode", "createdAt"}

    resp = await client.get(f"{BASE}/{created['id']}", headers=h)
    assert resp.status_code == 200 and resp.json() == created

    await create_employee(client, h, employee("B2", department="Finance"))
    await create_employee(client, h, employee("C3", status="ON_LEAVE"))
    resp = await client.get(f"{BASE}?limit=2&page=1", headers=h)
    page = resp.json()
    assert page["total"] == 3 and len(page["items"]) == 2 and page["limit"] == 2
    resp = await client.get(f"{BASE}?q=finance", headers=h)
    assert [e["employeeCode"] for e in resp.json()["items"]] == ["B2"]
    resp = await client.get(f"{BASE}?status=ON_LEAVE", headers=h)
    assert [e["employeeCode"] for e in resp.json()["items"]] == ["C3"]

    resp = await client.patch(
        f"{BASE}/{created['id']}", json={"salary": "100.10", "designation": "Lead"}, headers=h
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["salary"] == "100.10" and resp.json()["designation"] == "Lead"

    resp = await client.delete(f"{BASE}/{created['id']}", headers=h)
    assert resp.status_code == 200 and resp.json()["status"] == "TERMINATED"
    resp = await client.get(f"{BASE}/{created['id']}", headers=h)
    assert resp.json()["status"] == "TERMINATED"  # nothing deleted


async def test_duplicate_code_is_409(client: httpx.AsyncClient, dev: Dev) -> None:
    h = await headers_for(client, dev)
    await create_employee(client, h, employee("DUP"))
    resp = await client.post(BASE, json=employee("DUP"), headers=h)
    assert resp.status_code == 409 and resp.json()["code"] == "EMPLOYEE_CODE_TAKEN"


async def test_read_only_token_cannot_create(client: httpx.AsyncClient, dev: Dev) -> None:
    h = await headers_for(client, dev, scope="hr:read")
    resp = await client.post(BASE, json=employee("RO"), headers=h)
    assert resp.status_code == 403
    body = resp.json()
    assert body["code"] == "INSUFFICIENT_SCOPE" and "hr:write" in body["message"]
    assert (await client.get(BASE, headers=h)).status_code == 200


async def test_json_number_salary_is_validation_failed(client: httpx.AsyncClient, dev: Dev) -> None:
    h = await headers_for(client, dev)
    for bad in (1000, 1000.5, "ten", "1.23456"):
        resp = await client.post(BASE, json=employee("N1", salary=bad), headers=h)  # type: ignore[arg-type]
        assert resp.status_code == 400, bad
        body = resp.json()
        assert body["code"] == "VALIDATION_FAILED" and "salary" in body["errors"]
    resp = await client.post(BASE, json=employee("N1", currency="XXX"), headers=h)
    assert resp.status_code == 400 and resp.json()["code"] == "VALIDATION_FAILED"


async def test_another_tenants_employee_is_404(
    client: httpx.AsyncClient, dev: Dev, runtime: App
) -> None:
    h = await headers_for(client, dev)
    mine = await create_employee(client, h, employee("T1"))
    other = await headers_for(client, await create_dev(runtime))
    for method in ("GET", "PATCH", "DELETE"):
        resp = await client.request(
            method,
            f"{BASE}/{mine['id']}",
            headers=other,
            json={"designation": "x"} if method == "PATCH" else None,
        )
        assert resp.status_code == 404 and resp.json()["code"] == "EMPLOYEE_NOT_FOUND"
    assert (await client.get(BASE, headers=other)).json()["total"] == 0
    # The code is unique per tenant, not globally.
    await create_employee(client, other, employee("T1"))


async def test_routes_are_guarded(client: httpx.AsyncClient) -> None:
    resp = await client.get(BASE)
    assert resp.status_code == 401 and resp.json()["code"] == "AUTHORIZATION_MISSING"
