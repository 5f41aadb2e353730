"""The guard's act-as check over HTTP (DESIGN §3.7): the 400/403/404 rules, the attacker's
headers, and that acting stops at once when a company or workspace goes."""

from __future__ import annotations

import httpx
import pytest

from fluide.app import App
from tests.conftest import Dev
from tests.identity.partners.support import (
    CO,
    WS,
    acting,
    create_partner,
    new_company,
    new_workspace,
    partner_with_companies,
)
from tests.products.helpers import create_employee, employee, headers_for

EMPLOYEES = "/api/v1/hr/employees"


async def _code(client: httpx.AsyncClient, headers: dict[str, str]) -> tuple[int, str]:
    resp = await client.get(EMPLOYEES, headers=headers)
    return resp.status_code, resp.json().get("code", "") if resp.status_code != 200 else ""


async def test_acting_runs_on_the_companys_own_data(
    client: httpx.AsyncClient, runtime: App
) -> None:
    _, h, wid, (a, b) = await partner_with_companies(client, runtime)
    own = await create_employee(client, h, employee("OWN"))
    in_a = await create_employee(client, acting(h, wid, a), employee("A1"))
    in_b = await create_employee(client, acting(h, wid, b), employee("B1"))
    # The same employee code in three owners: three separate sets of data.
    await create_employee(client, acting(h, wid, b), employee("OWN"))
    for headers, mine in ((h, own), (acting(h, wid, a), in_a), (acting(h, wid, b), in_b)):
        listed = (await client.get(EMPLOYEES, headers=headers)).json()
        ids = {e["id"] for e in listed["items"]}
        assert mine["id"] in ids
        for other in {own["id"], in_a["id"], in_b["id"]} - {mine["id"]}:
            assert other not in ids
            resp = await client.get(f"{EMPLOYEES}/{other}", headers=headers)
            assert resp.status_code == 404 and other not in resp.text


@pytest.mark.parametrize("only", [WS, CO])
async def test_one_header_alone_is_a_validation_failure(
    client: httpx.AsyncClient, runtime: App, only: str
) -> None:
    _, h, wid, (a, _b) = await partner_with_companies(client, runtime)
    resp = await client.get(EMPLOYEES, headers={**h, only: wid if only == WS else a})
    assert resp.status_code == 400
    body = resp.json()
    assert body["code"] == "VALIDATION_FAILED"
    assert set(body["errors"]) == {CO if only == WS else WS}


@pytest.mark.parametrize(
    "value",
    ["", " ", "wsp_x y", "../../etc", "wsp_%00", "a" * 65, "wsp_é", "wsp_x,wsp_y", "*"],
)
async def test_malformed_values_are_refused_without_echo(
    client: httpx.AsyncClient, runtime: App, value: str
) -> None:
    _, h, wid, (a, _b) = await partner_with_companies(client, runtime)
    for headers in ({**h, WS: value, CO: a}, {**h, WS: wid, CO: value}):
        raw = [(k.encode(), v.encode("latin-1", "replace")) for k, v in headers.items()]
        resp = await client.get(EMPLOYEES, headers=raw)
        assert resp.status_code == 400, (value, resp.text)
        assert resp.json()["code"] == "VALIDATION_FAILED"
        if len(value) > 3:
            assert value not in resp.text


async def test_a_huge_value_is_refused_at_the_edge(client: httpx.AsyncClient, runtime: App) -> None:
    _, h, wid, (_a, _b) = await partner_with_companies(client, runtime)
    resp = await client.get(EMPLOYEES, headers={**h, WS: wid, CO: "c" * 9000})
    assert resp.status_code in (400, 431)
    assert "c" * 100 not in resp.text


async def test_duplicated_headers_are_refused(client: httpx.AsyncClient, runtime: App) -> None:
    _, h, wid, (a, b) = await partner_with_companies(client, runtime)
    base = [(k, v) for k, v in h.items()]
    for extra in (
        [(WS, wid), (CO, a), (CO, b)],
        [(WS, wid), (CO, a), (CO, a)],
        [(WS, wid), (WS, wid), (CO, a)],
        [(CO, a), (WS, wid), (CO.lower(), b)],
    ):
        resp = await client.get(EMPLOYEES, headers=[*base, *extra])
        assert resp.status_code == 400, (extra, resp.text)
        assert resp.json()["code"] == "VALIDATION_FAILED"


async def test_a_plain_developer_sending_act_as_headers_is_403(
    client: httpx.AsyncClient, runtime: App, dev: Dev
) -> None:
    # Real ids of a real partner's company: still 403, and nothing says they exist.
    _, _h, wid, (a, _b) = await partner_with_companies(client, runtime)
    h = await headers_for(client, dev)
    for ws, co in ((wid, a), ("wsp_none", "cmp_none")):
        resp = await client.get(EMPLOYEES, headers=acting(h, ws, co))
        assert resp.status_code == 403
        assert resp.json()["code"] == "INSUFFICIENT_SCOPE"
        assert "partner:client:act-as" in resp.json()["message"]
        assert 'scope="partner:client:act-as"' in resp.headers["www-authenticate"]


async def test_a_narrowed_partner_token_cannot_act(client: httpx.AsyncClient, runtime: App) -> None:
    partner, _h, wid, (a, _b) = await partner_with_companies(client, runtime)
    narrow = await headers_for(client, partner, scope="hr:read hr:write")
    assert await _code(client, narrow) == (200, "")  # its own data, yes
    assert await _code(client, acting(narrow, wid, a)) == (403, "INSUFFICIENT_SCOPE")
    acts = await headers_for(client, partner, scope="hr:read partner:client:act-as")
    assert await _code(client, acting(acts, wid, a)) == (200, "")
    # Acting does not add product scopes: the route's own scope is still checked.
    resp = await client.post(EMPLOYEES, json=employee("X"), headers=acting(acts, wid, a))
    assert resp.status_code == 403 and "hr:write" in resp.json()["message"]


async def test_another_tenants_workspace_and_company_are_404_alike(
    client: httpx.AsyncClient, runtime: App
) -> None:
    _, _vh, vw, (va, _vb) = await partner_with_companies(client, runtime)
    _, ah, aw, (aa, _ab) = await partner_with_companies(client, runtime)
    other_ws = await new_workspace(client, ah, "second")
    in_other = await new_company(client, ah, other_ws)
    cases = {
        (vw, va): "WORKSPACE_NOT_FOUND",  # the victim's workspace and company
        ("wsp_missing", va): "WORKSPACE_NOT_FOUND",
        (vw, aa): "WORKSPACE_NOT_FOUND",
        (aw, va): "COMPANY_NOT_FOUND",  # own workspace, the victim's company
        (aw, "cmp_missing"): "COMPANY_NOT_FOUND",
        (aw, in_other): "COMPANY_NOT_FOUND",  # own company, but of another own workspace
        (aw, aw): "COMPANY_NOT_FOUND",
    }
    for (ws, co), code in cases.items():
        resp = await client.get(EMPLOYEES, headers=acting(ah, ws, co))
        assert (resp.status_code, resp.json()["code"]) == (404, code), (ws, co)
        assert va not in resp.text and vw not in resp.text
    assert await _code(client, acting(ah, aw, aa)) == (200, "")


async def test_suspending_or_deleting_stops_acting_at_once(
    client: httpx.AsyncClient, runtime: App
) -> None:
    _, h, wid, (a, b) = await partner_with_companies(client, runtime)
    assert await _code(client, acting(h, wid, a)) == (200, "")
    company = f"/api/v1/workspaces/{wid}/companies/{a}"
    await client.patch(company, json={"status": "SUSPENDED"}, headers=h)
    assert await _code(client, acting(h, wid, a)) == (404, "COMPANY_NOT_FOUND")
    await client.patch(company, json={"status": "ACTIVE"}, headers=h)
    assert await _code(client, acting(h, wid, a)) == (200, "")
    assert (await client.delete(company, headers=h)).status_code == 204
    assert await _code(client, acting(h, wid, a)) == (404, "COMPANY_NOT_FOUND")
    assert await _code(client, acting(h, wid, b)) == (200, "")
    assert (await client.delete(f"/api/v1/workspaces/{wid}", headers=h)).status_code == 204
    assert await _code(client, acting(h, wid, b)) == (404, "WORKSPACE_NOT_FOUND")


async def test_refusals_reach_no_route_and_write_nothing(
    client: httpx.AsyncClient, runtime: App, dev: Dev
) -> None:
    _, vh, vw, (va, _vb) = await partner_with_companies(client, runtime)
    h = await headers_for(client, dev)
    attacker = await create_partner(runtime)
    ah = await headers_for(client, attacker)
    for headers in (acting(h, vw, va), acting(ah, vw, va), {**ah, WS: vw}):
        resp = await client.post(EMPLOYEES, json=employee("EVIL"), headers=headers)
        assert resp.status_code in (400, 403, 404)
    listed = (await client.get(EMPLOYEES, headers=acting(vh, vw, va))).json()
    assert listed["total"] == 0
