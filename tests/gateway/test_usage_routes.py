"""The usage API and its CSV (issue 21), on SQLite and PostgreSQL: totals equal to the requests
sent, exchanges counted, another tenant's credential a 404, bad windows refused, nothing
counted lost on a graceful shutdown, and a partner's counts per acting company (DESIGN §3.7)
with another tenant's companies never shown."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from fluide.app import App, create_app
from fluide.gateway.models import UsageHourly
from fluide.kit.clock import FrozenClock
from tests.conftest import make_settings
from tests.identity.partners.support import acting, new_company, new_workspace
from tests.identity.support import Owner, client_from, sign_in_owner
from tests.identity.test_credential_policies import (
    HR,
    PAYROLL,
    code,
    create_key,
    product_headers,
    token_of,
)

USAGE = "/api/v1/auth/usage"


def auth(owner: Owner) -> dict[str, str]:
    return {"Authorization": f"Bearer {owner.session_token}"}


@pytest.fixture
async def owners(app: App, runtime: App) -> AsyncIterator[tuple[Owner, Owner]]:
    async with client_from(app, "127.0.0.2") as a, client_from(app, "127.0.0.3") as b:
        yield await sign_in_owner(runtime, a), await sign_in_owner(runtime, b)


async def _traffic(app: App, owner: Owner) -> tuple[str, dict[str, int]]:
    """Calls of known outcome on a key that reads HR from 127.0.0.8/29 only."""
    key, _ = await create_key(owner, scopes=["hr:read"], allowedCidrs=["127.0.0.8/29"])
    sent = {"allowed": 0, "INSUFFICIENT_SCOPE": 0, "IP_NOT_ALLOWED": 0, "exchanges": 0}
    async with client_from(app, "127.0.0.9") as inside, client_from(app, "127.0.0.99") as out:
        token = (await token_of(inside, key)).json()["accessToken"]
        sent["exchanges"] += 1
        for _ in range(2):
            assert code(await token_of(inside, key)) is None
            sent["exchanges"] += 1
        assert code(await token_of(out, key)) == "IP_NOT_ALLOWED"
        for _ in range(5):
            assert code(await inside.get(HR, headers=product_headers(key, token))) is None
            sent["allowed"] += 1
        for _ in range(3):
            resp = await inside.get(PAYROLL, headers=product_headers(key, token))
            assert code(resp) == "INSUFFICIENT_SCOPE"
            sent["INSUFFICIENT_SCOPE"] += 1
        for _ in range(4):
            resp = await out.get(HR, headers=product_headers(key, token))
            assert code(resp) == "IP_NOT_ALLOWED"
            sent["IP_NOT_ALLOWED"] += 1
    return key.credential_id, sent


async def test_usage_totals_equal_the_requests_sent(
    app: App, runtime: App, owners: tuple[Owner, Owner]
) -> None:
    owner, other = owners
    credential_id, sent = await _traffic(app, owner)
    await _traffic(app, other)  # another tenant's counts never show
    await runtime.gateway.usage.flush()
    for params in ({"granularity": "hour"}, {"granularity": "day"}, {}):
        for filt in ({}, {"credentialId": credential_id}):
            resp = await owner.client.get(USAGE, headers=auth(owner), params={**params, **filt})
            assert resp.status_code == 200, resp.text
            items = resp.json()["items"]
            assert sum(i["allowed"] for i in items) == sent["allowed"]
            denied: dict[str, int] = {}
            for i in items:
                for c, n in i["denied"].items():
                    denied[c] = denied.get(c, 0) + n
            assert denied == {c: sent[c] for c in ("INSUFFICIENT_SCOPE", "IP_NOT_ALLOWED")}
            assert sum(i["exchanges"] for i in items) == sent["exchanges"]
            assert sum(i["exchangeDenied"].get("IP_NOT_ALLOWED", 0) for i in items) == 1
    csv_resp = await owner.client.get(f"{USAGE}.csv", headers=auth(owner))
    assert csv_resp.status_code == 200
    assert csv_resp.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv_resp.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(csv_resp.text)))
    assert {r["credentialId"] for r in rows} == {credential_id}

    def total(kind: str, outcome: str, c: str = "") -> int:
        return sum(
            int(r["count"])
            for r in rows
            if r["kind"] == kind and r["outcome"] == outcome and (not c or r["code"] == c)
        )

    assert total("request", "allowed") == sent["allowed"]
    assert total("request", "denied", "IP_NOT_ALLOWED") == sent["IP_NOT_ALLOWED"]
    assert total("request", "denied", "INSUFFICIENT_SCOPE") == sent["INSUFFICIENT_SCOPE"]
    assert total("exchange", "allowed") == sent["exchanges"]


async def test_another_tenants_credential_is_a_404_on_both_routes(
    app: App, runtime: App, owners: tuple[Owner, Owner]
) -> None:
    mine, theirs = owners
    their_key, _ = await create_key(theirs)
    for path in (USAGE, f"{USAGE}.csv"):
        foreign = await mine.client.get(
            path, headers=auth(mine), params={"credentialId": their_key.credential_id}
        )
        missing = await mine.client.get(
            path, headers=auth(mine), params={"credentialId": "cred_nope"}
        )
        assert foreign.status_code == missing.status_code == 404
        assert foreign.json() | {"requestId": "", "timestamp": ""} == missing.json() | {
            "requestId": "",
            "timestamp": "",
        }


@pytest.mark.parametrize(
    "params",
    [
        {"granularity": "week"},
        {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        {"from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        {"from": "2026-01-01T00:00:00Z", "to": "2026-03-01T00:00:00Z", "granularity": "hour"},
        {"from": "2026-01-01T00:00:00"},
        {"from": "yesterday"},
        {"credentialId": "c" * 500},
    ],
)
async def test_bad_windows_are_refused(owners: tuple[Owner, Owner], params: dict[str, str]) -> None:
    owner, _ = owners
    for path in (USAGE, f"{USAGE}.csv"):
        resp = await owner.client.get(path, headers=auth(owner), params=params)
        assert (resp.status_code, code(resp)) == (400, "VALIDATION_FAILED"), resp.text


async def test_a_token_is_not_a_session(app: App, owners: tuple[Owner, Owner]) -> None:
    owner, _ = owners
    key, _ = await create_key(owner)
    async with client_from(app, "127.0.0.9") as c:
        token = (await token_of(c, key)).json()["accessToken"]
        for path in (USAGE, f"{USAGE}.csv"):
            resp = await c.get(path, headers=product_headers(key, token))
            assert (resp.status_code, code(resp)) == (401, "SESSION_REQUIRED")


async def test_nothing_counted_is_lost_on_a_graceful_shutdown(
    tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(tmp_path, database_url, usage_flush_seconds=3600)
    application = create_app(settings, FrozenClock())
    sent: dict[str, Any]
    async with application.lifespan():
        async with client_from(application, "127.0.0.2") as c:
            owner = await sign_in_owner(application, c)
            credential_id, sent = await _traffic(application, owner)
        assert application.gateway.usage.pending > 0
    again = create_app(settings, FrozenClock())
    async with again.lifespan(), again.infra.sessionmaker() as session:
        stored = await session.scalar(
            select(func.sum(UsageHourly.count)).where(UsageHourly.credential_id == credential_id)
        )
    assert stored == sum(sent.values()) + 1  # and the exchange refused from outside


# ---- per acting company (DESIGN §3.7) ------------------------------------------------------

SCOPE = "X-Fluide-Scope"


async def _partner_traffic(app: App, owner: Owner) -> tuple[str, list[str], dict[str, Any]]:
    """A partner's key, a workspace of two companies, and calls of known outcome for its own
    data and each company: (workspace, companies, what was sent per company id, "" = own)."""
    key, _ = await create_key(owner)
    async with client_from(app, "127.0.0.9") as c:
        full = product_headers(key, (await token_of(c, key)).json()["accessToken"])
        hr_only = await token_of(c, key, **{SCOPE: "partner:client:act-as hr:read"})
        narrow = product_headers(key, hr_only.json()["accessToken"])
        wid = await new_workspace(c, full)
        a, b = await new_company(c, full, wid), await new_company(c, full, wid)
        sent: dict[str, Any] = {"": {"allowed": 2, "denied": {}}, a: {}, b: {}}
        sent[a] = {"allowed": 3, "denied": {"INSUFFICIENT_SCOPE": 1}}
        sent[b] = {"allowed": 1, "denied": {}}
        for headers, n in ((full, 2), (acting(full, wid, a), 3), (acting(full, wid, b), 1)):
            for _ in range(n):
                assert code(await c.get(HR, headers=headers)) is None
        assert code(await c.get(PAYROLL, headers=acting(narrow, wid, a))) == "INSUFFICIENT_SCOPE"
    return wid, [a, b], sent


def _totals(items: list[dict[str, Any]]) -> dict[str, Any]:
    denied: dict[str, int] = {}
    for i in items:
        for c, n in i["denied"].items():
            denied[c] = denied.get(c, 0) + n
    return {"allowed": sum(i["allowed"] for i in items), "denied": denied}


@pytest.fixture
async def partners(app: App, runtime: App) -> AsyncIterator[tuple[Owner, Owner]]:
    async with client_from(app, "127.0.0.2") as a, client_from(app, "127.0.0.3") as b:
        yield (
            await sign_in_owner(runtime, a, partner=True),
            await sign_in_owner(runtime, b, partner=True),
        )


async def test_a_partners_usage_per_acting_company(
    app: App, runtime: App, partners: tuple[Owner, Owner]
) -> None:
    owner, other = partners
    _, (a, b), sent = await _partner_traffic(app, owner)
    _, theirs, _ = await _partner_traffic(app, other)
    await runtime.gateway.usage.flush()
    for granularity in ("hour", "day"):
        params = {"granularity": granularity, "groupBy": "company"}
        resp = await owner.client.get(USAGE, headers=auth(owner), params=params)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        groups = {g["companyId"]: _totals(g["items"]) for g in body["groups"]}
        assert groups == {None if k == "" else k: v for k, v in sent.items()}
        assert [g["companyId"] for g in body["groups"]] == [None, *sorted((a, b))]
        assert _totals(body["items"])["allowed"] == 6  # every call, grouped or not
        for company in (a, b):
            one = await owner.client.get(
                USAGE,
                headers=auth(owner),
                params={"granularity": granularity, "companyId": company},
            )
            assert one.status_code == 200 and one.json()["companyId"] == company
            assert _totals(one.json()["items"]) == sent[company]
            assert sum(i["exchanges"] for i in one.json()["items"]) == 0
        assert not any(t in resp.text for t in theirs)
    rows = list(
        csv.DictReader(
            io.StringIO((await owner.client.get(f"{USAGE}.csv", headers=auth(owner))).text)
        )
    )
    assert {r["companyId"] for r in rows} == {"", a, b}
    for company, expected in sent.items():
        mine = [r for r in rows if r["companyId"] == company and r["kind"] == "request"]
        assert (
            sum(int(r["count"]) for r in mine if r["outcome"] == "allowed") == expected["allowed"]
        )
    only_a = await owner.client.get(f"{USAGE}.csv", headers=auth(owner), params={"companyId": a})
    assert {r["companyId"] for r in csv.DictReader(io.StringIO(only_a.text))} == {a}


async def test_another_tenants_company_is_a_404_like_none(
    app: App, runtime: App, partners: tuple[Owner, Owner], owners: tuple[Owner, Owner]
) -> None:
    owner, other = partners
    business, _ = owners
    await _partner_traffic(app, owner)
    _, (their_a, _), _ = await _partner_traffic(app, other)
    await runtime.gateway.usage.flush()

    def same(resp: Any) -> dict[str, Any]:
        out: dict[str, Any] = resp.json() | {"requestId": "", "timestamp": ""}
        return out

    for who in (owner, business):
        for path in (USAGE, f"{USAGE}.csv"):
            answers = [
                await who.client.get(path, headers=auth(who), params={"companyId": value})
                for value in (their_a, "cmp_nope", "")
            ]
            for resp in answers:
                assert (resp.status_code, code(resp)) == (404, "COMPANY_NOT_FOUND"), resp.text
                assert their_a not in resp.text
            assert same(answers[0]) == same(answers[1])
    # A business tenant's calls all are its own.
    resp = await business.client.get(USAGE, headers=auth(business), params={"groupBy": "company"})
    assert [g["companyId"] for g in resp.json()["groups"]] in ([], [None])


async def test_a_deleted_companys_counts_stay_readable(
    app: App, runtime: App, partners: tuple[Owner, Owner]
) -> None:
    owner, _ = partners
    wid, (a, _b), sent = await _partner_traffic(app, owner)
    await runtime.gateway.usage.flush()
    key, _ = await create_key(owner)
    async with client_from(app, "127.0.0.9") as c:
        headers = product_headers(key, (await token_of(c, key)).json()["accessToken"])
        resp = await c.delete(f"/api/v1/workspaces/{wid}/companies/{a}", headers=headers)
        assert resp.status_code == 204
    kept = await owner.client.get(USAGE, headers=auth(owner), params={"companyId": a})
    assert kept.status_code == 200 and _totals(kept.json()["items"]) == sent[a]
