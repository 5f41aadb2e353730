"""Books through HTTP: chart, balanced entries, voids, trial balance, exact decimals."""

from __future__ import annotations

from typing import Any

import httpx

from fluide.kit.clock import FrozenClock
from tests.conftest import Dev
from tests.products.helpers import headers_for

BOOKS = "/api/v1/books"


def entry(lines: list[tuple[str, str, str]], **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "date": "2026-11-01",
        "description": "Test entry",
        "currency": "USD",
        "lines": [{"accountCode": a, "debit": d, "credit": c} for a, d, c in lines],
    }
    body.update(extra)
    return body


async def test_chart_is_seeded_and_extensible(client: httpx.AsyncClient, dev: Dev) -> None:
    h = await headers_for(client, dev)
    resp = await client.get(f"{BOOKS}/accounts?limit=200", headers=h)
    codes = {a["code"]: a["type"] for a in resp.json()["items"]}
    assert codes["6000"] == "EXPENSE" and codes["2200"] == "LIABILITY" and codes["1100"] == "ASSET"
    resp = await client.post(
        f"{BOOKS}/accounts", json={"code": "6500", "name": "Rent", "type": "EXPENSE"}, headers=h
    )
    assert resp.status_code == 201 and resp.json()["code"] == "6500"
    resp = await client.post(
        f"{BOOKS}/accounts", json={"code": "6500", "name": "Rent", "type": "EXPENSE"}, headers=h
    )
    assert resp.status_code == 409 and resp.json()["code"] == "ACCOUNT_CODE_TAKEN"


async def test_point_one_plus_point_two(client: httpx.AsyncClient, dev: Dev) -> None:
    h = await headers_for(client, dev)
    body = entry([("6800", "0.10", "0"), ("6800", "0.20", "0"), ("1000", "0", "0.30")])
    resp = await client.post(f"{BOOKS}/journal-entries", json=body, headers=h)
    assert resp.status_code == 201, resp.text
    assert resp.json()["totalDebit"] == "0.30" == resp.json()["totalCredit"]
    tb = (await client.get(f"{BOOKS}/trial-balance", headers=h)).json()
    acct = {line["accountCode"]: line for line in tb["lines"]}
    assert acct["6800"]["debit"] == "0.30" and acct["1000"]["balance"] == "-0.30"
    assert tb["balanced"] is True


async def test_unbalanced_and_invalid_entries(client: httpx.AsyncClient, dev: Dev) -> None:
    h = await headers_for(client, dev)
    url = f"{BOOKS}/journal-entries"
    resp = await client.post(
        url, json=entry([("6800", "10.00", "0"), ("1000", "0", "9.99")]), headers=h
    )
    assert resp.status_code == 400 and resp.json()["code"] == "JOURNAL_ENTRY_NOT_BALANCED"
    resp = await client.post(url, json=entry([("6800", "1", "1"), ("1000", "0", "0")]), headers=h)
    assert resp.status_code == 400 and resp.json()["code"] == "VALIDATION_FAILED"
    resp = await client.post(url, json=entry([("9999", "1", "0"), ("1000", "0", "1")]), headers=h)
    assert resp.status_code == 400 and resp.json()["code"] == "ACCOUNT_NOT_FOUND"
    body = entry([("6800", "1", "0"), ("1000", "0", "1")])
    body["lines"][0]["debit"] = 1
    resp = await client.post(url, json=body, headers=h)
    assert resp.status_code == 400 and resp.json()["code"] == "VALIDATION_FAILED"
    assert (await client.get(url, headers=h)).json()["total"] == 0


async def test_void_posts_a_reversal_and_deletes_nothing(
    client: httpx.AsyncClient, dev: Dev
) -> None:
    h = await headers_for(client, dev)
    body = entry([("6800", "12.34", "0"), ("1000", "0", "12.34")], description="Office chairs")
    created = (await client.post(f"{BOOKS}/journal-entries", json=body, headers=h)).json()
    resp = await client.post(f"{BOOKS}/journal-entries/{created['id']}/void", headers=h)
    assert resp.status_code == 201, resp.text
    reversal = resp.json()
    assert reversal["reversesId"] == created["id"]
    assert reversal["lines"][0] == {"accountCode": "6800", "debit": "0.00", "credit": "12.34"}
    original = (await client.get(f"{BOOKS}/journal-entries/{created['id']}", headers=h)).json()
    assert original["status"] == "VOIDED" and original["voidedById"] == reversal["id"]
    resp = await client.post(f"{BOOKS}/journal-entries/{created['id']}/void", headers=h)
    assert resp.status_code == 409 and resp.json()["code"] == "JOURNAL_ENTRY_ALREADY_VOIDED"
    listed = (await client.get(f"{BOOKS}/journal-entries?q=chairs", headers=h)).json()
    assert listed["total"] == 2
    tb = (await client.get(f"{BOOKS}/trial-balance", headers=h)).json()
    acct = {line["accountCode"]: line for line in tb["lines"]}
    assert acct["6800"]["balance"] == "0.00" and acct["6800"]["debit"] == "12.34"


async def test_trial_balance_as_of(client: httpx.AsyncClient, dev: Dev, clock: FrozenClock) -> None:
    h = await headers_for(client, dev)
    for day, amount in (("2026-01-10", "100.00"), ("2026-03-10", "50.00")):
        body = entry([("1000", amount, "0"), ("3000", "0", amount)], date=day)
        assert (
            await client.post(f"{BOOKS}/journal-entries", json=body, headers=h)
        ).status_code == 201
    tb = (await client.get(f"{BOOKS}/trial-balance?asOf=2026-02-01", headers=h)).json()
    assert tb["asOf"] == "2026-02-01"
    assert {line["accountCode"]: line["debit"] for line in tb["lines"]}["1000"] == "100.00"
    tb = (await client.get(f"{BOOKS}/trial-balance?asOf=2026-12-31", headers=h)).json()
    assert {line["accountCode"]: line["debit"] for line in tb["lines"]}["1000"] == "150.00"


async def test_journal_entry_idempotency(client: httpx.AsyncClient, dev: Dev) -> None:
    h = {**(await headers_for(client, dev)), "Idempotency-Key": "je-1"}
    body = entry([("6800", "1.00", "0"), ("1000", "0", "1.00")])
    first = await client.post(f"{BOOKS}/journal-entries", json=body, headers=h)
    second = await client.post(f"{BOOKS}/journal-entries", json=body, headers=h)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    body["description"] = "changed"
    third = await client.post(f"{BOOKS}/journal-entries", json=body, headers=h)
    assert third.status_code == 409 and third.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert (await client.get(f"{BOOKS}/journal-entries", headers=h)).json()["total"] == 1
