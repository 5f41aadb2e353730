"""The usage API and its CSV (issue 21), on SQLite and PostgreSQL: totals equal to the requests
sent, exchanges counted, another tenant's credential a 404, bad windows refused, and nothing
counted lost on a graceful shutdown."""

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
