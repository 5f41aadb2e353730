"""The dashboard's workspace and company pages (issue 20, DESIGN §3.7): a partner manages them
with forms (CSRF checked, bad values shown again with their problems and nothing written); a
business tenant and another partner get 404s; "Try it" for a company mints a token that acts
for it, and for nobody else."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from fluide.app import App
from fluide.identity.audit import Actor
from fluide.identity.partners.schemas import CompanyIn, WorkspaceIn
from tests.conftest import Dev
from tests.dashboard.support import Member, create_member, csrf_of, form_token, sign_in
from tests.identity.partners.support import acting, new_company, new_workspace
from tests.products.helpers import employee, headers_for

WS = "/connect/workspaces"
HANDOFF_RE = re.compile(r'<script type="application/json" id="playground-auth">(.*?)</script>')


def as_dev(member: Member) -> Dev:
    return Dev(
        member.account_id,
        member.tenant_id,
        member.credential_id,
        member.api_key,
        member.api_secret,
    )


@pytest.fixture
async def partner(client: httpx.AsyncClient, runtime: App) -> Member:
    member = await create_member(runtime, partner=True)
    await sign_in(client, member.email)
    return member


async def post(
    client: httpx.AsyncClient, path: str, form: dict[str, Any], page: str = WS
) -> httpx.Response:
    return await client.post(path, data={"csrf_token": await form_token(client, page), **form})


async def api_workspaces(client: httpx.AsyncClient, h: dict[str, str]) -> list[dict[str, Any]]:
    resp = await client.get("/api/v1/workspaces", params={"limit": 200}, headers=h)
    assert resp.status_code == 200, resp.text
    items: list[dict[str, Any]] = resp.json()["items"]
    return items


async def test_a_partner_manages_workspaces_and_companies(
    client: httpx.AsyncClient, partner: Member
) -> None:
    keys = (await client.get("/connect/keys")).text
    assert f'href="{WS}"' in keys  # the navigation offers the pages to a partner
    created = await post(client, WS, {"name": "  Payroll clients  "})
    assert created.status_code == 303
    page_url = created.headers["location"].split("?")[0]
    wid = page_url.rsplit("/", 1)[1]
    assert created.headers["location"] == f"{WS}/{wid}?done=created"
    h = await headers_for(client, as_dev(partner))
    assert [(w["id"], w["name"]) for w in await api_workspaces(client, h)] == [
        (wid, "Payroll clients")
    ]
    renamed = await post(client, page_url, {"name": "Bureau"}, page_url)
    assert renamed.status_code == 303
    assert "Bureau" in (await client.get(WS)).text

    form = {"name": "Acme Ltd", "country_code": "ng", "currency": "ngn", "status": "ACTIVE"}
    added = await post(client, f"{page_url}/companies", form, page_url)
    assert added.headers["location"] == f"{page_url}?done=company-created"
    companies = (await client.get(f"/api/v1/workspaces/{wid}/companies", headers=h)).json()
    (company,) = companies["items"]
    assert (company["name"], company["countryCode"], company["currency"]) == (
        "Acme Ltd",
        "NG",
        "NGN",
    )
    co_url = f"{page_url}/companies/{company['id']}"
    assert "Acme Ltd" in (await client.get(page_url)).text
    edit = {"name": "Acme Ghana", "country_code": "GH", "currency": "GHS", "status": "SUSPENDED"}
    saved = await post(client, co_url, edit, co_url)
    assert saved.headers["location"] == f"{page_url}?done=company-saved"
    got = (
        await client.get(f"/api/v1/workspaces/{wid}/companies/{company['id']}", headers=h)
    ).json()
    assert (got["name"], got["countryCode"], got["currency"], got["status"]) == (
        "Acme Ghana",
        "GH",
        "GHS",
        "SUSPENDED",
    )
    # A suspended company is not acted for (the guard's view follows the write).
    probe = await client.get("/api/v1/hr/employees", headers=acting(h, wid, company["id"]))
    assert probe.json()["code"] == "COMPANY_NOT_FOUND"

    assert "Delete company" in (await client.get(f"{co_url}/delete")).text
    gone = await post(client, f"{co_url}/delete", {}, co_url)
    assert gone.headers["location"] == f"{page_url}?done=company-deleted"
    assert (await client.get(co_url)).status_code == 404
    assert "0 companies" in (await client.get(f"{page_url}/delete")).text
    dropped = await post(client, f"{page_url}/delete", {}, page_url)
    assert dropped.headers["location"] == f"{WS}?done=deleted"
    assert await api_workspaces(client, h) == []
    audit = (await client.get("/connect/audit")).text
    for action in ("workspace.create", "workspace.update", "company.update", "workspace.delete"):
        assert action in audit


async def test_a_business_tenant_has_no_workspace_pages(
    client: httpx.AsyncClient, runtime: App
) -> None:
    owner = await create_member(runtime, partner=True)
    h = await headers_for(client, as_dev(owner))
    wid = await new_workspace(client, h)
    cid = await new_company(client, h, wid)
    business = await create_member(runtime)
    await sign_in(client, business.email)
    assert f'href="{WS}"' not in (await client.get("/connect/keys")).text
    for path in (WS, f"{WS}/{wid}", f"{WS}/{wid}/companies/{cid}", f"{WS}/{wid}/delete"):
        resp = await client.get(path)
        assert resp.status_code == 404, path
        assert "There is no dashboard page at this address." in resp.text
    token = await form_token(client)
    for path, form in (
        (WS, {"name": "Mine"}),
        (f"{WS}/{wid}", {"name": "Taken"}),
        (f"{WS}/{wid}/delete", {}),
        (f"{WS}/{wid}/companies", {"name": "X", "country_code": "NG", "currency": "NGN"}),
        (f"{WS}/{wid}/companies/{cid}/try", {"credential_id": business.credential_id}),
    ):
        resp = await client.post(path, data={"csrf_token": token, **form})
        assert resp.status_code == 404, (path, resp.text)
    assert [w["name"] for w in await api_workspaces(client, h)] == ["Clients"]


async def test_another_partners_ids_are_404_and_unchanged(
    client: httpx.AsyncClient, runtime: App, partner: Member
) -> None:
    other = await create_member(runtime, partner=True)
    oh = await headers_for(client, as_dev(other))
    wid = await new_workspace(client, oh, "Theirs")
    cid = await new_company(client, oh, wid, name="Their Co")
    mine = await post(client, WS, {"name": "Mine"})
    my_wid = mine.headers["location"].split("?")[0].rsplit("/", 1)[1]
    co = f"{WS}/{wid}/companies/{cid}"
    for path in (f"{WS}/{wid}", co, f"{co}/delete", f"{WS}/{my_wid}/companies/{cid}"):
        assert (await client.get(path)).status_code == 404, path
    token = await form_token(client)
    company = {"name": "Mine", "country_code": "NG", "currency": "NGN", "status": "ACTIVE"}
    for path, form in (
        (f"{WS}/{wid}", {"name": "Stolen"}),
        (f"{WS}/{wid}/delete", {}),
        (f"{WS}/{wid}/companies", company),
        (co, company),
        (f"{co}/delete", {}),
        (f"{co}/try", {"credential_id": partner.credential_id}),
        # My workspace with their company, and my company with their key.
        (f"{WS}/{my_wid}/companies/{cid}", company),
        (f"{WS}/{my_wid}/companies/{cid}/delete", {}),
    ):
        resp = await client.post(path, data={"csrf_token": token, **form})
        assert resp.status_code == 404, (path, resp.text)
    assert [w["name"] for w in await api_workspaces(client, oh)] == ["Theirs"]
    got = await client.get(f"/api/v1/workspaces/{wid}/companies/{cid}", headers=oh)
    assert got.json()["name"] == "Their Co"


async def test_csrf_is_required_on_every_form(
    client: httpx.AsyncClient, runtime: App, partner: Member
) -> None:
    h = await headers_for(client, as_dev(partner))
    wid = await new_workspace(client, h, "Kept")
    cid = await new_company(client, h, wid, name="Kept Co")
    co = f"{WS}/{wid}/companies/{cid}"
    forged = "0" * 64
    for path, form in (
        (WS, {"name": "New"}),
        (f"{WS}/{wid}", {"name": "Renamed"}),
        (f"{WS}/{wid}/delete", {}),
        (f"{WS}/{wid}/companies", {"name": "N", "country_code": "NG", "currency": "NGN"}),
        (co, {"name": "Renamed", "country_code": "NG", "currency": "NGN", "status": "ACTIVE"}),
        (f"{co}/delete", {}),
        (f"{co}/try", {"credential_id": partner.credential_id}),
    ):
        for token in (None, forged):
            data = form if token is None else {"csrf_token": token, **form}
            resp = await client.post(path, data=data)
            assert resp.status_code == 403, (path, token, resp.text)
            assert "expired or did not come from this site" in resp.text
    assert [w["name"] for w in await api_workspaces(client, h)] == ["Kept"]
    companies = (await client.get(f"/api/v1/workspaces/{wid}/companies", headers=h)).json()
    assert [c["name"] for c in companies["items"]] == ["Kept Co"]
    # A token rendered for another session does not pass either.
    stranger = httpx.AsyncClient(transport=client._transport, base_url=client.base_url)
    async with stranger:
        their_token = await form_token(stranger, "/connect/signin")
    resp = await client.post(WS, data={"csrf_token": their_token, "name": "X"})
    assert resp.status_code == 403


BAD_COMPANIES = [
    ({"name": ""}, "Name:"),
    ({"name": "   "}, "Name:"),
    ({"name": "x" * 201}, "Name:"),
    ({"country_code": "N1"}, "Country code:"),
    ({"country_code": "NGA"}, "Country code:"),
    ({"country_code": "ÑG"}, "Country code:"),
    ({"country_code": ""}, "Country code:"),
    ({"currency": "XYZ"}, "Currency:"),
    ({"currency": "NG"}, "Currency:"),
    ({"currency": "N N"}, "Currency:"),
    ({"status": "DELETED"}, "Status:"),
]


async def test_bad_values_are_shown_with_their_problems_and_nothing_is_written(
    client: httpx.AsyncClient, partner: Member
) -> None:
    h = await headers_for(client, as_dev(partner))
    wid = await new_workspace(client, h, "Kept")
    cid = await new_company(client, h, wid, name="Kept Co")
    ws_url, co_url = f"{WS}/{wid}", f"{WS}/{wid}/companies/{cid}"
    good = {"name": "Fine", "country_code": "NG", "currency": "NGN", "status": "ACTIVE"}
    for change, label in BAD_COMPANIES:
        for path in (f"{ws_url}/companies", co_url):
            resp = await post(client, path, {**good, **change}, ws_url)
            assert resp.status_code == 400, (change, path, resp.text)
            assert "Please check the form" in resp.text and label in resp.text, (change, path)
            assert csrf_of(resp.text)  # the form is there again, ready to resend
    for name in ("", "  ", "y" * 201):
        for path in (WS, ws_url):
            resp = await post(client, path, {"name": name}, ws_url)
            assert resp.status_code == 400 and "Name:" in resp.text, (name, path)
    # Far beyond any bound: refused as a whole, before any model sees it.
    for path, field in (
        (WS, "name"),
        (f"{ws_url}/companies", "country_code"),
        (co_url, "currency"),
    ):
        resp = await post(client, path, {**good, field: "Z" * 100_000}, ws_url)
        assert resp.status_code == 400, path
        assert "Z" * 50 not in resp.text
    # A NUL is refused before any route (the gateway's JSON 400), on these forms too.
    resp = await post(client, f"{ws_url}/companies", {**good, "currency": "N\u0000N"}, ws_url)
    assert resp.status_code == 400
    # A bad value is shown escaped in the form, never as markup.
    resp = await post(client, WS, {"name": "<script>x</script>" + "a" * 200}, ws_url)
    assert "<script>x</script>" not in resp.text and "&lt;script&gt;" in resp.text
    assert [w["name"] for w in await api_workspaces(client, h)] == ["Kept"]
    got = (await client.get(f"/api/v1/workspaces/{wid}/companies/{cid}", headers=h)).json()
    assert (got["name"], got["countryCode"], got["currency"], got["status"]) == (
        "Kept Co",
        "NG",
        "NGN",
        "ACTIVE",
    )


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    # Not NUL (the gateway refuses it before any route, asserted above), nor a lone surrogate
    # (no UTF-8 form can carry one).
    name=st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=210
    ),
    country=st.text(alphabet="ABNGZa1 é", max_size=3),
    currency=st.sampled_from(["NGN", "ngn", "GHS", "XYZ", "NG", "USD ", "", "KES"]),
)
async def test_the_dashboard_accepts_a_company_iff_the_api_does(
    client: httpx.AsyncClient, partner: Member, name: str, country: str, currency: str
) -> None:
    h = await headers_for(client, as_dev(partner))
    wid = await new_workspace(client, h)
    ws_url = f"{WS}/{wid}"
    form = {"name": name, "country_code": country, "currency": currency, "status": "ACTIVE"}
    resp = await post(client, f"{ws_url}/companies", form, ws_url)
    # The dashboard's only normalisation: the name trimmed, the codes trimmed and upper-cased.
    body = {"name": name.strip(), "countryCode": country.strip().upper()}
    body["currency"] = currency.strip().upper()
    try:
        CompanyIn.model_validate(body)
        valid = True
    except ValidationError:
        valid = False
    listed = (await client.get(f"/api/v1/workspaces/{wid}/companies", headers=h)).json()
    assert resp.status_code == (303 if valid else 400), (form, resp.text)
    assert listed["total"] == (1 if valid else 0)
    if valid:
        assert listed["items"][0]["name"] == body["name"]


async def test_lists_are_paginated_and_searchable(
    client: httpx.AsyncClient, runtime: App, partner: Member
) -> None:
    actor = Actor("system", "test", None, None)
    partners = runtime.identity.partners
    async with runtime.infra.sessionmaker() as session, session.begin():
        for i in range(30):
            await partners.create_workspace(
                session, actor, partner.tenant_id, WorkspaceIn(name=f"Client group {i:02d}")
            )
    first = (await client.get(WS)).text
    assert "30 workspaces · page 1 of 2" in first
    assert first.count("data-workspace=") == 25 and 'rel="next"' in first
    second = (await client.get(WS, params={"page": 2})).text
    assert second.count("data-workspace=") == 5 and 'rel="prev"' in second
    found = (await client.get(WS, params={"q": "group 07"})).text
    assert found.count("data-workspace=") == 1 and "Client group 07" in found
    assert (await client.get(WS, params={"page": 0})).status_code == 400
    assert (await client.get(WS, params={"q": "q" * 201})).status_code == 400


def handoff_of(html: str) -> dict[str, Any]:
    match = HANDOFF_RE.search(html)
    assert match, "no hand-off on the page"
    data: dict[str, Any] = json.loads(match.group(1))
    return data


async def test_try_it_acts_for_the_chosen_company_only(
    client: httpx.AsyncClient, runtime: App, partner: Member
) -> None:
    h = await headers_for(client, as_dev(partner))
    wid = await new_workspace(client, h)
    a = await new_company(client, h, wid, name="Alpha")
    b = await new_company(client, h, wid, name="Beta")
    made = await client.post("/api/v1/hr/employees", json=employee("A1"), headers=acting(h, wid, a))
    assert made.status_code == 201, made.text
    co_url = f"{WS}/{wid}/companies/{a}"
    page = await client.get(co_url)
    assert partner.api_key[:11] in page.text and 'id="company-try"' in page.text
    resp = await post(client, f"{co_url}/try", {"credential_id": partner.credential_id}, co_url)
    assert resp.status_code == 200, resp.text
    assert resp.headers["cache-control"] == "no-store"
    handoff = handoff_of(resp.text)
    assert handoff["acting"] == {"workspaceId": wid, "companyId": a, "companyName": "Alpha"}
    th = {
        "Authorization": f"Bearer {handoff['bearer']}",
        "X-Fluide-Api-Key": handoff["apiKey"],
        "X-Fluide-Client-Id": handoff["clientId"],
    }
    as_a = await client.get("/api/v1/hr/employees", headers=acting(th, wid, a))
    assert [e["employeeCode"] for e in as_a.json()["items"]] == ["A1"]
    as_b = await client.get("/api/v1/hr/employees", headers=acting(th, wid, b))
    assert as_b.json()["items"] == []
    own = await client.get("/api/v1/hr/employees", headers=th)
    assert own.json()["items"] == []
    # The keys page's own "Try it" hands over no company.
    keys_try = await post(client, f"/connect/keys/{partner.credential_id}/try", {}, "/connect/keys")
    assert "acting" not in handoff_of(keys_try.text)


async def test_try_it_refuses_a_suspended_company_a_narrowed_key_and_a_foreign_key(
    client: httpx.AsyncClient, runtime: App, partner: Member
) -> None:
    h = await headers_for(client, as_dev(partner))
    wid = await new_workspace(client, h)
    cid = await new_company(client, h, wid)
    co_url = f"{WS}/{wid}/companies/{cid}"
    narrowed = await post(
        client,
        f"/connect/keys/{partner.credential_id}/policy",
        {"scopes": ["hr:read"]},
        f"/connect/keys/{partner.credential_id}/policy",
    )
    assert narrowed.status_code == 303
    page = (await client.get(co_url)).text
    assert "No active key carries" in page and 'id="company-try"' not in page
    resp = await post(client, f"{co_url}/try", {"credential_id": partner.credential_id}, co_url)
    assert resp.status_code == 400 and "does not carry partner:client:act-as" in resp.text
    assert "playground-auth" not in resp.text
    resp = await post(client, f"{co_url}/try", {"credential_id": ""}, co_url)
    assert resp.status_code == 400 and "Key: choose one." in resp.text
    stranger = await create_member(runtime, partner=True)
    resp = await post(client, f"{co_url}/try", {"credential_id": stranger.credential_id}, co_url)
    assert resp.status_code == 404 and "playground-auth" not in resp.text
    suspend = {"name": "Acme", "country_code": "NG", "currency": "NGN", "status": "SUSPENDED"}
    assert (await post(client, co_url, suspend, co_url)).status_code == 303
    resp = await post(client, f"{co_url}/try", {"credential_id": partner.credential_id}, co_url)
    assert resp.status_code == 400 and "suspended company cannot be acted for" in resp.text


async def test_a_partners_key_forms_offer_and_keep_the_act_as_scope(
    client: httpx.AsyncClient, runtime: App, partner: Member
) -> None:
    box = 'name="scopes" value="partner:client:act-as"'
    assert box in (await client.get("/connect/keys")).text
    path = f"/connect/keys/{partner.credential_id}/policy"
    policy = (await client.get(path)).text
    assert f"{box} checked" in policy
    kept = await post(client, path, {"scopes": ["hr:read", "partner:client:act-as"]}, path)
    assert kept.status_code == 303
    h = await headers_for(client, as_dev(partner))
    assert (await client.get("/api/v1/workspaces", headers=h)).status_code == 200
    business = await create_member(runtime)
    await sign_in(client, business.email)
    assert "partner:client:act-as" not in (await client.get("/connect/keys")).text
    theirs = f"/connect/keys/{business.credential_id}/policy"
    assert "partner:client:act-as" not in (await client.get(theirs)).text
