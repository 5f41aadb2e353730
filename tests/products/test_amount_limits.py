"""Amounts the storage cannot hold are refused as 400s, never a 500 (found by reading while
documenting the product errors: a 15-digit amount overflowed the money columns)."""

from __future__ import annotations

from decimal import Decimal

import httpx

from fluide.kit import money
from tests.conftest import Dev
from tests.products.helpers import employee, fund, headers_for

THIRTEEN_DIGITS = "1000000000000"
LARGEST = "999999999999.9999"  # 12 integer digits: the largest amount one request may carry


async def test_amounts_past_twelve_integer_digits_are_a_validation_error(
    client: httpx.AsyncClient, dev: Dev
) -> None:
    h = await headers_for(client, dev)
    for big in (THIRTEEN_DIGITS, "999999999999999"):
        answers = [
            await client.post("/api/v1/pay/wallets/NGN/fund", json={"amount": big}, headers=h),
            await client.post(
                "/api/v1/books/journal-entries",
                json={
                    "date": "2026-11-27",
                    "description": "Too big",
                    "currency": "NGN",
                    "lines": [
                        {"accountCode": "1000", "debit": big},
                        {"accountCode": "3000", "credit": big},
                    ],
                },
                headers=h,
            ),
            await client.post("/api/v1/hr/employees", json=employee("BIG", big), headers=h),
        ]
        for resp in answers:
            assert resp.status_code == 400, resp.text
            assert resp.json()["code"] == "VALIDATION_FAILED"


async def test_the_largest_amount_round_trips_exactly(client: httpx.AsyncClient, dev: Dev) -> None:
    h = await headers_for(client, dev)
    wallet = await fund(client, h, LARGEST)
    assert wallet["balance"] == "1000000000000.00"  # rounded half-even to kobo, exact
    resp = await client.post(
        "/api/v1/hr/employees", json=employee("MAX", "999999999999.99"), headers=h
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["salary"] == "999999999999.99"


async def test_a_top_up_past_the_storable_balance_changes_nothing(
    client: httpx.AsyncClient, dev: Dev
) -> None:
    h = await headers_for(client, dev)
    per_top_up = Decimal(LARGEST)
    fits = int((money.STORAGE_LIMIT - 1) // money.round_money(per_top_up, "NGN"))
    assert fits == 99  # 99 × 10^12 < 10^14 ≤ 100 × 10^12
    for _ in range(fits):
        await fund(client, h, LARGEST)
    resp = await client.post("/api/v1/pay/wallets/NGN/fund", json={"amount": LARGEST}, headers=h)
    assert resp.status_code == 400, resp.text
    assert resp.json()["code"] == "WALLET_BALANCE_LIMIT_EXCEEDED"
    wallets = (await client.get("/api/v1/pay/wallets", headers=h)).json()["items"]
    assert [w["balance"] for w in wallets] == ["99000000000000.00"]
    # The ledger agrees with the wallet: the refused top-up posted nothing.
    tb = (await client.get("/api/v1/books/trial-balance", headers=h)).json()
    wallet_line = next(ln for ln in tb["lines"] if ln["accountCode"] == "1100")
    assert wallet_line["balance"] == "99000000000000.00"
    # A small top-up that still fits is fine.
    await fund(client, h, "1.00")
