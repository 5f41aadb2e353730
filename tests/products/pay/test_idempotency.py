"""Idempotency-Key on money-moving POSTs: replay, reuse, and 10 concurrent repeats pay once."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx

from tests.conftest import Dev
from tests.products.helpers import approved_run, fund, headers_for

PAY = "/api/v1/pay"


async def _balance(client: httpx.AsyncClient, h: dict[str, str], currency: str = "NGN") -> str:
    items = (await client.get(f"{PAY}/wallets", headers=h)).json()["items"]
    return next((w["balance"] for w in items if w["currency"] == currency), "none")


async def _payouts(client: httpx.AsyncClient, h: dict[str, str], run_id: str) -> list[Any]:
    resp = await client.get(f"{PAY}/payouts?runId={run_id}", headers=h)
    items: list[Any] = resp.json()["items"]
    return items


async def test_disburse_repeated_with_the_same_key_pays_once(
    client: httpx.AsyncClient, dev: Dev
) -> None:
    h = await headers_for(client, dev)
    run = await approved_run(client, h, [("1200000", "0123456789"), ("2400000", "0987654321")])
    await fund(client, h, "1000000.00")
    url = f"{PAY}/payroll-runs/{run['id']}/disburse"
    first = await client.post(url, headers={**h, "Idempotency-Key": "k-1"})
    assert first.status_code == 201, first.text
    after_first = await _balance(client, h)
    again = await client.post(url, headers={**h, "Idempotency-Key": "k-1"})
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    assert await _balance(client, h) == after_first
    assert len(await _payouts(client, h, run["id"])) == 2
    # A new key cannot pay the run twice either.
    other = await client.post(url, headers={**h, "Idempotency-Key": "k-2"})
    assert other.status_code == 409 and other.json()["code"] == "PAYROLL_RUN_ALREADY_DISBURSED"
    assert Decimal(after_first) == Decimal("1000000.00") - Decimal(run["totals"]["net"])


async def test_ten_concurrent_disburses_pay_once(client: httpx.AsyncClient, dev: Dev) -> None:
    h = await headers_for(client, dev)
    run = await approved_run(client, h, [("1200000", "0123456789"), ("600000", "0987654321")])
    await fund(client, h, "500000.00")
    url = f"{PAY}/payroll-runs/{run['id']}/disburse"
    responses = await asyncio.gather(
        *(client.post(url, headers={**h, "Idempotency-Key": "same"}) for _ in range(10))
    )
    assert [r.status_code for r in responses] == [201] * 10, [r.text for r in responses]
    bodies = {r.text for r in responses}
    assert len(bodies) == 1  # every caller sees the one stored response
    assert len(await _payouts(client, h, run["id"])) == 2
    expected = Decimal("500000.00") - Decimal(run["totals"]["net"])
    assert Decimal(await _balance(client, h)) == expected


async def test_ten_concurrent_disburses_with_different_keys_pay_once(
    client: httpx.AsyncClient, dev: Dev
) -> None:
    h = await headers_for(client, dev)
    run = await approved_run(client, h, [("1200000", "0123456789")])
    await fund(client, h, "500000.00")
    url = f"{PAY}/payroll-runs/{run['id']}/disburse"
    responses = await asyncio.gather(
        *(client.post(url, headers={**h, "Idempotency-Key": f"k{i}"}) for i in range(10))
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] + [409] * 9, [r.text for r in responses]
    assert len(await _payouts(client, h, run["id"])) == 1


async def test_same_key_different_body_is_409(client: httpx.AsyncClient, dev: Dev) -> None:
    h = {**(await headers_for(client, dev)), "Idempotency-Key": "fund-1"}
    first = await client.post(f"{PAY}/wallets/USD/fund", json={"amount": "10.00"}, headers=h)
    assert first.status_code == 200
    resp = await client.post(f"{PAY}/wallets/USD/fund", json={"amount": "11.00"}, headers=h)
    assert resp.status_code == 409 and resp.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    resp = await client.post(f"{PAY}/wallets/USD/fund", json={"amount": "10.00"}, headers=h)
    assert resp.status_code == 200 and resp.json() == first.json()
    assert await _balance(client, h, "USD") == "10.00"


async def test_keys_are_per_tenant(client: httpx.AsyncClient, dev: Dev, runtime: Any) -> None:
    from tests.conftest import create_dev

    h1 = {**(await headers_for(client, dev)), "Idempotency-Key": "shared"}
    h2 = {**(await headers_for(client, await create_dev(runtime))), "Idempotency-Key": "shared"}
    r1 = await client.post(f"{PAY}/wallets/USD/fund", json={"amount": "1.00"}, headers=h1)
    r2 = await client.post(f"{PAY}/wallets/USD/fund", json={"amount": "2.00"}, headers=h2)
    assert r1.status_code == r2.status_code == 200
    assert r1.json()["id"] != r2.json()["id"] and r2.json()["balance"] == "2.00"


async def test_a_failed_attempt_releases_the_key(client: httpx.AsyncClient, dev: Dev) -> None:
    plain = await headers_for(client, dev)
    h = {**plain, "Idempotency-Key": "po-1"}
    body = {
        "amount": "5.00",
        "currency": "USD",
        "recipient": {"name": "Ada", "accountNumber": "12345678", "bankCode": "001"},
        "reference": "invoice 7",
    }
    resp = await client.post(f"{PAY}/payouts", json=body, headers=h)
    assert resp.status_code == 400 and resp.json()["code"] == "WALLET_INSUFFICIENT_BALANCE"
    await fund(client, plain, "5.00", "USD")
    resp = await client.post(f"{PAY}/payouts", json=body, headers=h)
    assert resp.status_code == 201, resp.text
    # The same key on another route is another request: refused, nothing funded.
    again = await client.post(f"{PAY}/wallets/USD/fund", json={"amount": "5.00"}, headers=h)
    assert again.status_code == 409 and again.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert resp.json()["status"] == "PENDING" and resp.json()["amount"] == "5.00"
    assert await _balance(client, h, "USD") == "0.00"


async def test_amounts_add_up_exactly_and_numbers_are_refused(
    client: httpx.AsyncClient, dev: Dev
) -> None:
    h = await headers_for(client, dev)
    await fund(client, h, "0.10", "USD")
    wallet = await fund(client, h, "0.20", "USD")
    assert wallet["balance"] == "0.30"
    for bad in (0.1, 1, None):
        resp = await client.post(f"{PAY}/wallets/USD/fund", json={"amount": bad}, headers=h)
        assert resp.status_code == 400 and resp.json()["code"] == "VALIDATION_FAILED"
        assert "amount" in resp.json()["errors"]
    assert await _balance(client, h, "USD") == "0.30"
