"""Utils through HTTP: reference data and the payslip PDF (owning tenant only)."""

from __future__ import annotations

import httpx

from fluide.app import App
from tests.conftest import Dev, create_dev
from tests.products.helpers import approved_run, headers_for

UTILS = "/api/v1/utils"


async def test_countries_and_currencies(client: httpx.AsyncClient, dev: Dev) -> None:
    h = await headers_for(client, dev)
    currencies = (await client.get(f"{UTILS}/currencies", headers=h)).json()
    minor = {c["code"]: c["minorUnits"] for c in currencies["items"]}
    assert minor["USD"] == 2 and minor["JPY"] == 0 and minor["BHD"] == 3
    countries = (await client.get(f"{UTILS}/countries?q=nigeria", headers=h)).json()
    assert countries["items"] == [
        {"code": "NG", "name": "Nigeria", "currency": "NGN", "statutoryRules": True}
    ]


async def test_payslip_pdf_for_the_owner_only(
    client: httpx.AsyncClient, dev: Dev, runtime: App
) -> None:
    h = await headers_for(client, dev)
    run = await approved_run(client, h, [("1200000", "0123456789")])
    slip_id = run["payslips"][0]["id"]
    resp = await client.get(f"{UTILS}/documents/payslips/{slip_id}.pdf", headers=h)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/pdf"
    assert resp.content.startswith(b"%PDF-") and b"%%EOF" in resp.content[-64:]
    other = await headers_for(client, await create_dev(runtime))
    resp = await client.get(f"{UTILS}/documents/payslips/{slip_id}.pdf", headers=other)
    assert resp.status_code == 404 and resp.json()["code"] == "PAYSLIP_NOT_FOUND"
    resp = await client.get(f"{UTILS}/documents/payslips/{slip_id}.pdf")
    assert resp.status_code == 401
