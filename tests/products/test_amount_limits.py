"""Amounts the storage cannot hold are refused as 400s, never a 500 (found by reading while
documenting the product errors: a 15-digit amount overflowed the money columns)."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fluide.app import App
from fluide.kit import money
from tests.conftest import Dev, create_dev
from tests.products.helpers import employee, fund, headers_for, settle_all

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


def _big_entry(currency: str, amount: str, lines: int = 200) -> dict[str, object]:
    half = lines // 2
    return {
        "date": "2026-11-27",
        "description": "Large entry",
        "currency": currency,
        "lines": [{"accountCode": "1000", "debit": amount}] * half
        + [{"accountCode": "3000", "credit": amount}] * half,
    }


async def test_trial_balance_sums_past_the_column_limit_exactly(
    client: httpx.AsyncClient, dev: Dev
) -> None:
    """Ten entries of 200 maximal BHD lines: each line fits a column, the sum of an account's
    lines (10^15) does not fit SQLite's 64-bit integer in ten-thousandths (it used to 500)."""
    h = await headers_for(client, dev)
    amount = "999999999999.999"
    for _ in range(10):
        resp = await client.post(
            "/api/v1/books/journal-entries", json=_big_entry("BHD", amount), headers=h
        )
        assert resp.status_code == 201, resp.text
    resp = await client.get("/api/v1/books/trial-balance", headers=h)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    expected = Decimal(amount) * 1000
    by_code = {ln["accountCode"]: ln for ln in body["lines"]}
    assert Decimal(by_code["1000"]["debit"]) == expected
    assert Decimal(by_code["3000"]["credit"]) == expected
    assert by_code["1000"]["debit"] == "999999999999999.000"
    assert body["totals"] == [
        {"currency": "BHD", "debit": f"{expected:f}", "credit": f"{expected:f}", "balanced": True}
    ]
    assert body["balanced"] is True


@pytest.fixture
def no_settlement_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test settles by hand, at the moment it chooses (settle_all)."""
    monkeypatch.setenv("FLUIDE_SETTLEMENT_WORKER", "false")


@pytest.mark.usefixtures("no_settlement_worker")
async def test_a_top_up_leaves_room_for_the_refunds_of_open_payouts(
    client: httpx.AsyncClient, dev: Dev, runtime: App
) -> None:
    """A failed payout's refund cannot be refused: balance + money in transit stays storable.
    (It used to: the refund overflowed NUMERIC(18, 4) on PostgreSQL and settlement failed on
    every pass; on SQLite the wallet silently held more than the limit.)"""
    h = await headers_for(client, dev)
    for _ in range(99):
        await fund(client, h, LARGEST)
    payout = await client.post(
        "/api/v1/pay/payouts",
        json={
            "amount": "999999999999.99",
            "currency": "NGN",
            "recipient": {"name": "Rejected", "accountNumber": "12340000", "bankCode": "058"},
            "reference": "will fail",
        },
        headers=h,
    )
    assert payout.status_code == 201, payout.text
    # The wallet holds 98 × 10^12 + 0.01 and 10^12 - 0.01 is in transit, which may come back.
    resp = await client.post("/api/v1/pay/wallets/NGN/fund", json={"amount": LARGEST}, headers=h)
    assert resp.status_code == 400, resp.text
    assert resp.json()["code"] == "WALLET_BALANCE_LIMIT_EXCEEDED"
    await fund(client, h, "999999999999.99")  # just below the room that is left
    await settle_all(runtime)
    done = await client.get(f"/api/v1/pay/payouts/{payout.json()['id']}", headers=h)
    assert done.json()["status"] == "FAILED"
    wallets = (await client.get("/api/v1/pay/wallets", headers=h)).json()["items"]
    assert [w["balance"] for w in wallets] == ["99999999999999.99"]
    tb = (await client.get("/api/v1/books/trial-balance", headers=h)).json()
    assert next(ln for ln in tb["lines"] if ln["accountCode"] == "1100")["balance"] == (
        "99999999999999.99"
    )


_near_max = st.one_of(
    st.sampled_from(["999999999999.999", "999999999999.998", "0.001", "500000000000.000"]),
    st.decimals(min_value=1, max_value=Decimal("999999999999.999"), places=3).map(str),
)
_entry = st.tuples(_near_max, st.integers(1, 100))  # (amount, debit lines = credit lines)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(entries=st.lists(_entry, min_size=1, max_size=6))
async def test_trial_balance_is_the_exact_sum_of_what_was_posted(
    client: httpx.AsyncClient, runtime: App, entries: list[tuple[str, int]]
) -> None:
    """Any mix of amounts up to the largest one a request carries: the trial balance adds
    them exactly, on both backends, and never answers 5xx."""
    h = await headers_for(client, await create_dev(runtime))
    expected = Decimal(0)
    for amount, per_side in entries:
        resp = await client.post(
            "/api/v1/books/journal-entries", json=_big_entry("BHD", amount, 2 * per_side), headers=h
        )
        assert resp.status_code == 201, resp.text
        expected += Decimal(amount) * per_side
    resp = await client.get("/api/v1/books/trial-balance?currency=BHD", headers=h)
    assert resp.status_code == 200, resp.text
    by_code = {ln["accountCode"]: ln for ln in resp.json()["lines"]}
    assert Decimal(by_code["1000"]["debit"]) == expected
    assert Decimal(by_code["3000"]["credit"]) == expected
    assert Decimal(by_code["1000"]["balance"]) == expected
    assert Decimal(by_code["3000"]["balance"]) == -expected
    assert resp.json()["balanced"] is True
