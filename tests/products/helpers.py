"""Shared helpers for the product tests: real tokens, real headers, small builders."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import func, select

from fluide.app import App
from fluide.products.pay.models import Payout
from fluide.products.pay.settlement import settle_once
from tests.conftest import Dev, bearer, exchange


async def headers_for(
    client: httpx.AsyncClient, dev: Dev, scope: str | None = None
) -> dict[str, str]:
    """The three product headers for a fresh token (optionally narrowed to ``scope``)."""
    if scope is None:
        token = (await exchange(client, dev))["accessToken"]
    else:
        resp = await client.post(
            "/api/v1/authorize/token", headers=dev.exchange_headers(), json={"scope": scope}
        )
        assert resp.status_code == 200, resp.text
        token = resp.json()["accessToken"]
    return bearer(token, dev)


def employee(
    code: str,
    salary: str = "1200000.00",
    account: str | None = "0123456789",
    country: str = "NG",
    currency: str = "NGN",
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "employeeCode": code,
        "firstName": f"First{code}",
        "lastName": f"Last{code}",
        "email": f"{code.lower()}@example.com",
        "department": "Engineering",
        "designation": "Engineer",
        "employmentType": "FULL_TIME",
        "salary": salary,
        "currency": currency,
        "hireDate": "2024-01-15",
        "countryCode": country,
    }
    if account is not None:
        body["bankAccount"] = {"accountNumber": account, "bankCode": "058"}
    body.update(extra)
    return body


async def create_employee(
    client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    resp = await client.post("/api/v1/hr/employees", json=body, headers=headers)
    assert resp.status_code == 201, resp.text
    out: dict[str, Any] = resp.json()
    return out


async def approved_run(
    client: httpx.AsyncClient, headers: dict[str, str], salaries_accounts: list[tuple[str, str]]
) -> dict[str, Any]:
    for i, (salary, account) in enumerate(salaries_accounts):
        await create_employee(client, headers, employee(f"E{i:03d}", salary, account))
    resp = await client.post(
        "/api/v1/payroll/runs",
        json={"periodMonth": 11, "periodYear": 2026, "payDate": "2026-11-28"},
        headers=headers,
    )
    assert resp.status_code == 201, resp.text
    run_id = resp.json()["id"]
    resp = await client.post(f"/api/v1/payroll/runs/{run_id}/approve", headers=headers)
    assert resp.status_code == 200, resp.text
    out: dict[str, Any] = resp.json()
    return out


async def fund(
    client: httpx.AsyncClient, headers: dict[str, str], amount: str, currency: str = "NGN"
) -> dict[str, Any]:
    resp = await client.post(
        f"/api/v1/pay/wallets/{currency}/fund", json={"amount": amount}, headers=headers
    )
    assert resp.status_code == 200, resp.text
    out: dict[str, Any] = resp.json()
    return out


async def settle_all(runtime: App) -> None:
    """Run settlement passes until no payout is PENDING or PROCESSING (bounded).

    The app's own background worker runs too and may hold a payout mid-settlement, so an
    empty pass is not the end: wait for its in-flight payouts to reach a final state.
    """
    for _ in range(200):
        if await settle_once(runtime.infra) == 0:
            async with runtime.infra.sessionmaker() as session:
                open_count = await session.scalar(
                    select(func.count())
                    .select_from(Payout)
                    .where(Payout.status.in_(("PENDING", "PROCESSING")))
                )
            if not open_count:
                return
            await asyncio.sleep(0.05)
    raise AssertionError("settlement did not finish")
