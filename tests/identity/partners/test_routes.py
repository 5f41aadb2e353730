"""The workspace and company routes (DESIGN §3.7) over HTTP: who may manage what, and that
another tenant's workspace or company is a 404 like one that does not exist."""

from __future__ import annotations

import httpx
import pytest

from fluide.app import App
from tests.conftest import Dev, bearer, exchange
from tests.identity.partners.support import create_partner, new_company, new_workspace
from tests.products.helpers import headers_for


async def test_a_partner_manages_workspaces_and_companies(
    client: httpx.AsyncClient, runtime: App
) -> None:
    partner = await create_partner(runtime)
    h = await headers_for(client, partner)
    wid = await new_workspace(client, h, "Payroll clients")
    got = await client.get(f"/api/v1/workspaces/{wid}", headers=h)
    assert got.status_code == 200 and got.json()["name"] == "Payroll clients"
    renamed = await client.patch(f"/api/v1/workspaces/{wid}", json={"name": "B"}, headers=h)
    assert renamed.status_code == 200 and renamed.json()["name"] == "B"
    cid = await new_company(client, h, wid, name="Acme Ltd", currency="USD", countryCode="US")
    listed = await client.get(f"/api/v1/workspaces/{wid}/companies?q=acme", headers=h)
    assert listed.status_code == 200
    body = listed.json()
    assert body["total"] == 1 and body["page"] == 1 and body["items"][0]["id"] == cid
    assert body["items"][0]["currency"] == "USD" and body["items"][0]["status"] == "ACTIVE"
    patched = await client.patch(
        f"/api/v1/workspaces/{wid}/companies/{cid}", json={"status": "SUSPENDED"}, headers=h
    )
    assert patched.status_code == 200 and patched.json()["status"] == "SUSPENDED"
    spaces = await client.get("/api/v1/workspaces", headers=h)
    assert [w["id"] for w in spaces.json()["items"]] == [wid]
    deleted = await client.delete(f"/api/v1/workspaces/{wid}/companies/{cid}", headers=h)
    assert deleted.status_code == 204
    gone = await client.get(f"/api/v1/workspaces/{wid}/companies/{cid}", headers=h)
    assert gone.status_code == 404 and gone.json()["code"] == "COMPANY_NOT_FOUND"
    assert (await client.delete(f"/api/v1/workspaces/{wid}", headers=h)).status_code == 204
    gone = await client.get(f"/api/v1/workspaces/{wid}", headers=h)
    assert gone.status_code == 404 and gone.json()["code"] == "WORKSPACE_NOT_FOUND"


async def test_a_business_tenant_cannot_hold_or_use_the_partner_scope(
    client: httpx.AsyncClient, dev: Dev
) -> None:
    token = await exchange(client, dev)
    assert "partner:client:act-as" not in token["scope"].split()
    asked = await client.post(
        "/api/v1/authorize/token",
        headers=dev.exchange_headers(),
        json={"scope": "hr:read partner:client:act-as"},
    )
    assert asked.status_code == 400, asked.text
    assert asked.json()["errors"] == {"scope": ["not granted: partner:client:act-as"]}
    h = bearer(token["accessToken"], dev)
    for method, path in (("GET", "/api/v1/workspaces"), ("POST", "/api/v1/workspaces")):
        resp = await client.request(method, path, json={"name": "x"}, headers=h)
        assert resp.status_code == 403, resp.text
        assert resp.json()["code"] == "INSUFFICIENT_SCOPE"
        assert "partner:client:act-as" in resp.json()["message"]


async def test_a_partner_credential_gets_the_scope_by_default(
    client: httpx.AsyncClient, runtime: App
) -> None:
    partner = await create_partner(runtime)
    token = await exchange(client, partner)
    assert "partner:client:act-as" in token["scope"].split()
    current = await client.get("/api/v1/authorize/current", headers=bearer(token["accessToken"]))
    assert "partner:client:act-as" in current.json()["scopes"]


async def test_a_narrowed_partner_token_manages_nothing(
    client: httpx.AsyncClient, runtime: App
) -> None:
    partner = await create_partner(runtime)
    full = await headers_for(client, partner)
    wid = await new_workspace(client, full)
    narrow = await headers_for(client, partner, scope="hr:read hr:write")
    for method, path in (
        ("GET", "/api/v1/workspaces"),
        ("POST", "/api/v1/workspaces"),
        ("GET", f"/api/v1/workspaces/{wid}"),
        ("DELETE", f"/api/v1/workspaces/{wid}"),
        ("POST", f"/api/v1/workspaces/{wid}/companies"),
    ):
        resp = await client.request(
            method,
            path,
            json={"name": "x", "countryCode": "NG", "currency": "NGN"},
            headers=narrow,
        )
        assert resp.status_code == 403, (method, path, resp.text)
    assert (await client.get(f"/api/v1/workspaces/{wid}", headers=full)).status_code == 200


@pytest.mark.parametrize(
    ("method", "template", "body"),
    [
        ("GET", "/api/v1/workspaces/{w}", None),
        ("PATCH", "/api/v1/workspaces/{w}", {"name": "stolen"}),
        ("DELETE", "/api/v1/workspaces/{w}", None),
        ("GET", "/api/v1/workspaces/{w}/companies", None),
        (
            "POST",
            "/api/v1/workspaces/{w}/companies",
            {"name": "x", "countryCode": "NG", "currency": "NGN"},
        ),
        ("GET", "/api/v1/workspaces/{w}/companies/{c}", None),
        ("PATCH", "/api/v1/workspaces/{w}/companies/{c}", {"status": "SUSPENDED"}),
        ("DELETE", "/api/v1/workspaces/{w}/companies/{c}", None),
        # One's own workspace with another tenant's company.
        ("GET", "/api/v1/workspaces/{mine}/companies/{c}", None),
        ("DELETE", "/api/v1/workspaces/{mine}/companies/{c}", None),
    ],
)
async def test_another_partners_ids_are_404_alike(
    client: httpx.AsyncClient, runtime: App, method: str, template: str, body: object
) -> None:
    victim, attacker = await create_partner(runtime), await create_partner(runtime)
    vh, ah = await headers_for(client, victim), await headers_for(client, attacker)
    wid = await new_workspace(client, vh)
    cid = await new_company(client, vh, wid)
    mine = await new_workspace(client, ah)
    path = template.format(w=wid, c=cid, mine=mine)
    resp = await client.request(method, path, json=body, headers=ah)
    missing = template.format(w="wsp_missing", c="cmp_missing", mine=mine)
    alike = await client.request(method, missing, json=body, headers=ah)
    assert resp.status_code == 404, resp.text
    assert (resp.status_code, resp.json()["code"]) == (alike.status_code, alike.json()["code"])
    assert wid not in resp.text and cid not in resp.text
    # Nothing of the victim's changed.
    listed = await client.get(f"/api/v1/workspaces/{wid}/companies", headers=vh)
    assert [(c["id"], c["status"]) for c in listed.json()["items"]] == [(cid, "ACTIVE")]


async def test_company_fields_are_validated(client: httpx.AsyncClient, runtime: App) -> None:
    partner = await create_partner(runtime)
    h = await headers_for(client, partner)
    wid = await new_workspace(client, h)
    for bad in (
        {"name": "", "countryCode": "NG", "currency": "NGN"},
        {"name": "x" * 201, "countryCode": "NG", "currency": "NGN"},
        {"name": "A", "countryCode": "ng", "currency": "NGN"},
        {"name": "A", "countryCode": "NG", "currency": "XYZ"},
        {"name": "A", "countryCode": "NG", "currency": "NGN", "status": "DELETED"},
    ):
        resp = await client.post(f"/api/v1/workspaces/{wid}/companies", json=bad, headers=h)
        assert resp.status_code == 400, (bad, resp.text)
        assert resp.json()["code"] == "VALIDATION_FAILED"
