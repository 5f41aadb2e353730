"""``GET /api/v1/auth-context/{jti}`` shows whom the asking request acts for (DESIGN §3.7):
the act-as headers checked exactly as the guard checks them on a product call (400/403/404),
never revealing another partner's workspace or company. Over HTTP, the real app."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fluide.app import App
from tests.conftest import Dev, bearer, create_dev, exchange
from tests.identity.partners.support import (
    CO,
    WS,
    create_partner,
    new_company,
    new_workspace,
)

CONTEXT = "/api/v1/auth-context/{jti}"


@dataclass
class Token:
    headers: dict[str, str]
    jti: str


async def _token(client: httpx.AsyncClient, dev: Dev, scope: str | None = None) -> Token:
    if scope is None:
        body = await exchange(client, dev)
    else:
        resp = await client.post(
            "/api/v1/authorize/token", headers=dev.exchange_headers(), json={"scope": scope}
        )
        assert resp.status_code == 200, resp.text
        body = resp.json()
    return Token(bearer(body["accessToken"], dev), body["jti"])


@dataclass
class World:
    """Two partners (ours with two workspaces, a suspended company in the first) and a
    business tenant; every id a test may send."""

    full: Token
    narrow: Token  # ours, narrowed to hr:read: no partner:client:act-as
    business: Token
    workspaces: list[str]  # ours
    companies: list[list[str]]  # ours, active, per workspace
    suspended: str  # ours, in workspaces[0]
    their_workspace: str
    their_company: str


async def _world(client: httpx.AsyncClient, runtime: App) -> World:
    ours, theirs = await create_partner(runtime), await create_partner(runtime)
    full = await _token(client, ours)
    wids = [await new_workspace(client, full.headers, f"W{i}") for i in range(2)]
    companies = [[await new_company(client, full.headers, w, name="A")] for w in wids]
    companies[0].append(await new_company(client, full.headers, wids[0], name="B"))
    suspended = await new_company(client, full.headers, wids[0], status="SUSPENDED")
    other = await _token(client, theirs)
    owid = await new_workspace(client, other.headers)
    ocid = await new_company(client, other.headers, owid)
    return World(
        full=full,
        narrow=await _token(client, ours, scope="hr:read"),
        business=await _token(client, await create_dev(runtime)),
        workspaces=wids,
        companies=companies,
        suspended=suspended,
        their_workspace=owid,
        their_company=ocid,
    )


async def _context(
    client: httpx.AsyncClient, token: Token, extra: dict[str, str] | None = None
) -> httpx.Response:
    return await client.get(
        CONTEXT.format(jti=token.jti), headers={**token.headers, **(extra or {})}
    )


def _error(resp: httpx.Response) -> tuple[int, str]:
    return resp.status_code, resp.json().get("code", "")


async def test_auth_context_shows_the_acting_workspace_and_company(
    client: httpx.AsyncClient, runtime: App
) -> None:
    w = await _world(client, runtime)
    wid, cid = w.workspaces[0], w.companies[0][1]
    resp = await _context(client, w.full, {WS: wid, CO: cid})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["workspaceId"], body["companyId"]) == (wid, cid)
    assert body["jti"] == w.full.jti and body["status"] == "active"
    own = (await _context(client, w.full)).json()
    assert (own["workspaceId"], own["companyId"]) == (None, None)
    assert {k: v for k, v in own.items() if k not in ("workspaceId", "companyId")} == {
        k: v for k, v in body.items() if k not in ("workspaceId", "companyId")
    }
    # The acting is the asking request's: a sibling token's context, asked while acting.
    narrow = await client.get(
        CONTEXT.format(jti=w.narrow.jti), headers={**w.full.headers, WS: wid, CO: cid}
    )
    assert narrow.status_code == 200 and narrow.json()["companyId"] == cid
    assert narrow.json()["scopes"] == ["hr:read"]


async def test_the_guards_rules_apply(client: httpx.AsyncClient, runtime: App) -> None:
    w = await _world(client, runtime)
    wid, cid = w.workspaces[0], w.companies[0][0]
    cases: list[tuple[Token, Any, tuple[int, str]]] = [
        (w.full, {WS: wid}, (400, "VALIDATION_FAILED")),
        (w.full, {CO: cid}, (400, "VALIDATION_FAILED")),
        (w.full, [(WS, wid), (WS, wid), (CO, cid)], (400, "VALIDATION_FAILED")),
        (w.full, {WS: "w" * 65, CO: cid}, (400, "VALIDATION_FAILED")),
        (w.full, {WS: "wsp_1 OR 1=1", CO: cid}, (400, "VALIDATION_FAILED")),
        (w.full, {WS: "", CO: cid}, (400, "VALIDATION_FAILED")),
        (w.narrow, {WS: wid, CO: cid}, (403, "INSUFFICIENT_SCOPE")),
        (w.business, {WS: wid, CO: cid}, (403, "INSUFFICIENT_SCOPE")),
        (w.full, {WS: w.their_workspace, CO: w.their_company}, (404, "WORKSPACE_NOT_FOUND")),
        (w.full, {WS: wid, CO: w.their_company}, (404, "COMPANY_NOT_FOUND")),
        (w.full, {WS: wid, CO: w.companies[1][0]}, (404, "COMPANY_NOT_FOUND")),
        (w.full, {WS: wid, CO: w.suspended}, (404, "COMPANY_NOT_FOUND")),
    ]
    for token, extra, expected in cases:
        items = list(extra.items()) if isinstance(extra, dict) else extra
        resp = await client.get(
            CONTEXT.format(jti=token.jti), headers=[*token.headers.items(), *items]
        )
        assert _error(resp) == expected, (extra, resp.text)
        for value in (w.their_workspace, w.their_company, w.full.jti):
            assert value not in resp.text


async def test_another_partners_ids_answer_like_ids_that_do_not_exist(
    client: httpx.AsyncClient, runtime: App
) -> None:
    w = await _world(client, runtime)

    def same(resp: httpx.Response) -> dict[str, Any]:
        body: dict[str, Any] = resp.json()
        return body | {"requestId": "", "timestamp": ""}

    for real, missing in (
        ({WS: w.their_workspace, CO: w.their_company}, {WS: "wsp_nope", CO: "cmp_nope"}),
        ({WS: w.workspaces[0], CO: w.their_company}, {WS: w.workspaces[0], CO: "cmp_nope"}),
    ):
        theirs, nobodys = (
            await _context(client, w.full, real),
            await _context(client, w.full, missing),
        )
        assert theirs.status_code == nobodys.status_code == 404
        assert same(theirs) == same(nobodys)
        assert dict(theirs.headers).keys() == dict(nobodys.headers).keys()


async def test_a_deleted_company_stops_showing_at_once(
    client: httpx.AsyncClient, runtime: App
) -> None:
    w = await _world(client, runtime)
    wid, cid = w.workspaces[1], w.companies[1][0]
    assert (await _context(client, w.full, {WS: wid, CO: cid})).status_code == 200
    deleted = await client.delete(
        f"/api/v1/workspaces/{wid}/companies/{cid}", headers=w.full.headers
    )
    assert deleted.status_code == 204
    resp = await _context(client, w.full, {WS: wid, CO: cid})
    assert _error(resp) == (404, "COMPANY_NOT_FOUND")


# ---- property: any token × acting or not × any workspace and company ------------------------

TOKENS = ("full", "narrow", "business")
WORKSPACES = ("mine0", "mine1", "theirs", "nobody")
COMPANIES = ("of0", "of0b", "of1", "suspended", "theirs", "nobody")
SENDS = ("neither", "both", "workspace", "company")
probes = st.lists(
    st.tuples(
        st.sampled_from(TOKENS),
        st.sampled_from(SENDS),
        st.sampled_from(WORKSPACES),
        st.sampled_from(COMPANIES),
    ),
    min_size=1,
    max_size=8,
)


def _ids(w: World, workspace: str, company: str) -> tuple[str, str]:
    ws = {
        "mine0": w.workspaces[0],
        "mine1": w.workspaces[1],
        "theirs": w.their_workspace,
        "nobody": "wsp_nobody",
    }[workspace]
    co = {
        "of0": w.companies[0][0],
        "of0b": w.companies[0][1],
        "of1": w.companies[1][0],
        "suspended": w.suspended,
        "theirs": w.their_company,
        "nobody": "cmp_nobody",
    }[company]
    return ws, co


def _expected(token: str, sends: str, workspace: str, company: str) -> tuple[int, str]:
    """The rule of DESIGN §3.7, written out on its own."""
    if sends == "neither":
        return 200, ""
    if sends != "both":
        return 400, "VALIDATION_FAILED"
    if token != "full":
        return 403, "INSUFFICIENT_SCOPE"
    if workspace not in ("mine0", "mine1"):
        return 404, "WORKSPACE_NOT_FOUND"
    active = {"mine0": ("of0", "of0b"), "mine1": ("of1",)}[workspace]
    return (200, "") if company in active else (404, "COMPANY_NOT_FOUND")


@pytest.mark.parametrize("asked", ["own", "sibling"])
@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(program=probes)
async def test_any_request_shows_what_the_guard_would_let_it_act_for(
    client: httpx.AsyncClient, runtime: App, asked: str, program: list[tuple[str, str, str, str]]
) -> None:
    w = await _world(client, runtime)
    tokens = {"full": w.full, "narrow": w.narrow, "business": w.business}
    for token_name, sends, workspace, company in program:
        token = tokens[token_name]
        ws, co = _ids(w, workspace, company)
        extra = {"both": {WS: ws, CO: co}, "workspace": {WS: ws}, "company": {CO: co}}
        # ``sibling``: the full token's jti, asked by any of our tokens (a business one: 404).
        jti = token.jti if asked == "own" or token_name == "business" else w.full.jti
        resp = await client.get(
            CONTEXT.format(jti=jti), headers={**token.headers, **extra.get(sends, {})}
        )
        expected = _expected(token_name, sends, workspace, company)
        if expected[0] == 200:
            assert resp.status_code == 200, resp.text
            body = resp.json()
            shown = (body["workspaceId"], body["companyId"])
            assert shown == ((ws, co) if sends == "both" else (None, None))
        else:
            assert _error(resp) == expected, (token_name, sends, workspace, company, resp.text)
        if workspace == "theirs" or company == "theirs":
            assert w.their_workspace not in resp.text and w.their_company not in resp.text
