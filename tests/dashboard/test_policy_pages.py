"""The dashboard's policy page and usage CSV (issue 21): set a key's policy with a form (CSRF
checked, another tenant's key a 404), the 7-day expiry warning, and the CSV download."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import httpx
import pytest

from fluide.app import App
from fluide.kit.clock import FrozenClock
from tests.dashboard.support import Member, create_member, csrf_of, sign_in
from tests.identity.support import exchange_headers

TOKEN = "/api/v1/authorize/token"


@pytest.fixture
async def signed_in(client: httpx.AsyncClient, runtime: App) -> Member:
    member = await create_member(runtime)
    await sign_in(client, member.email)
    return member


async def _save(client: httpx.AsyncClient, member: Member, **form: object) -> httpx.Response:
    path = f"/connect/keys/{member.credential_id}/policy"
    page = await client.get(path)
    assert page.status_code == 200, page.text
    data: dict[str, object] = {"csrf_token": csrf_of(page.text), **form}
    return await client.post(path, data=data)


async def test_the_policy_form_restricts_the_key(
    client: httpx.AsyncClient, signed_in: Member, clock: FrozenClock
) -> None:
    expires = (clock() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    resp = await _save(
        client,
        signed_in,
        expires_at=expires,
        allowed_cidrs="192.0.2.0/24\n2001:db8::/32",
        rate_limit="10/second",
        scopes=["hr:read"],
    )
    assert resp.status_code == 303 and resp.headers["location"] == "/connect/keys?done=policy"
    listing = (await client.get("/connect/keys")).text
    assert "Expires soon" in listing  # within 7 days
    assert "192.0.2.0/24, 2001:db8::/32" in listing and "10/second" in listing
    # The test client's address (127.0.0.1) is outside the allowlist.
    refused = await client.post(
        TOKEN, headers=exchange_headers(signed_in.api_key, signed_in.api_secret)
    )
    assert refused.json()["code"] == "IP_NOT_ALLOWED"
    # Emptied fields lift the restrictions.
    lifted = await _save(client, signed_in, scopes=["hr:read", "payroll:read"])
    assert lifted.status_code == 303
    ok = await client.post(TOKEN, headers=exchange_headers(signed_in.api_key, signed_in.api_secret))
    assert ok.status_code == 200 and ok.json()["scope"] == "hr:read payroll:read"
    assert "Expires soon" not in (await client.get("/connect/keys")).text


async def test_bad_values_csrf_and_other_tenants(
    app: App, client: httpx.AsyncClient, runtime: App, signed_in: Member
) -> None:
    for form in (
        {"allowed_cidrs": "10.1.2.3/8", "scopes": ["hr:read"]},
        {"rate_limit": "fast", "scopes": ["hr:read"]},
        {"expires_at": "not a date", "scopes": ["hr:read"]},
        {"expires_at": "2001-01-01T00:00", "scopes": ["hr:read"]},
        {"scopes": []},
    ):
        resp = await _save(client, signed_in, **form)
        assert resp.status_code == 400, (form, resp.text)
    path = f"/connect/keys/{signed_in.credential_id}/policy"
    assert (await client.post(path, data={"rate_limit": "1/day"})).status_code == 403
    other = await create_member(runtime)
    foreign = f"/connect/keys/{other.credential_id}/policy"
    assert (await client.get(foreign)).status_code == 404
    token = csrf_of((await client.get(path)).text)
    posted = await client.post(foreign, data={"csrf_token": token, "rate_limit": "1/day"})
    assert posted.status_code == 404
    ok = await client.post(TOKEN, headers=exchange_headers(other.api_key, other.api_secret))
    assert ok.status_code == 200  # nothing changed on the other tenant's key
    mine = await client.post(
        TOKEN, headers=exchange_headers(signed_in.api_key, signed_in.api_secret)
    )
    assert mine.status_code == 200


async def test_usage_offers_the_csv_for_a_date_range(
    client: httpx.AsyncClient, runtime: App, signed_in: Member, clock: FrozenClock
) -> None:
    page = await client.get("/connect/usage")
    assert "Download CSV" in page.text
    exchanged = await client.post(
        TOKEN, headers=exchange_headers(signed_in.api_key, signed_in.api_secret)
    )
    assert exchanged.status_code == 200
    await runtime.gateway.usage.flush()
    day = clock().date().isoformat()
    resp = await client.get("/connect/usage.csv", params={"from": day, "to": day})
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    assert [(r["credentialId"], r["kind"], r["count"]) for r in rows] == [
        (signed_in.credential_id, "exchange", "1")
    ]
    bad = await client.get("/connect/usage.csv", params={"from": day, "to": "2000-01-01"})
    assert bad.status_code == 400
    client.cookies.clear()
    anonymous = await client.get("/connect/usage.csv", params={"from": day, "to": day})
    assert anonymous.status_code in (303, 401)
