"""A route that reveals another product's data needs that product's read scope too (DESIGN §4).

Over HTTP against the real app, with tokens narrowed at the exchange: the route's own scope
alone is a 403 naming the other product's scope, the other scope alone a 403 naming the own
one, both together pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fluide.catalog import ALL_SCOPES
from tests.conftest import Dev, bearer
from tests.products.helpers import approved_run, fund, headers_for


@dataclass
class World:
    client: httpx.AsyncClient
    dev: Dev
    run_id: str
    payslip_id: str

    async def token_for(self, scopes: list[str]) -> dict[str, str]:
        return await headers_for(self.client, self.dev, " ".join(scopes))


@pytest.fixture
async def world(client: httpx.AsyncClient, dev: Dev) -> World:
    full = await headers_for(client, dev)
    run = await approved_run(client, full, [("1200000", "0123456789")])
    await fund(client, full, "10000000")
    return World(client, dev, run["id"], run["payslips"][0]["id"])


def _routes(w: World) -> list[tuple[str, str, Any, str, str, int]]:
    """(method, path, body, own scope, other product's scope, status with both)."""
    return [
        ("GET", f"/api/v1/utils/documents/payslips/{w.payslip_id}.pdf", None,
         "utils:read", "payroll:read", 200),
        ("POST", "/api/v1/payroll/runs",
         {"periodMonth": 12, "periodYear": 2026, "payDate": "2026-12-28"},
         "payroll:write", "hr:read", 201),
        ("POST", f"/api/v1/pay/payroll-runs/{w.run_id}/disburse", None,
         "pay:write", "payroll:read", 201),
    ]  # fmt: skip


def _assert_needs(resp: httpx.Response, scope: str) -> None:
    assert resp.status_code == 403, resp.text
    body = resp.json()
    assert body["code"] == "INSUFFICIENT_SCOPE"
    assert body["message"] == f"This operation requires the '{scope}' scope"
    assert resp.headers["www-authenticate"] == (
        f'Bearer error="insufficient_scope", scope="{scope}"'
    )


async def test_each_cross_product_route_needs_both_scopes(world: World) -> None:
    c = world.client
    for method, path, body, own, other, ok in _routes(world):
        only_own = await world.token_for([own])
        _assert_needs(await c.request(method, path, json=body, headers=only_own), other)
        only_other = await world.token_for([other])
        _assert_needs(await c.request(method, path, json=body, headers=only_other), own)
        # Every other scope but the other product's: still refused, nothing done.
        all_but = await world.token_for([s for s in ALL_SCOPES if s != other])
        _assert_needs(await c.request(method, path, json=body, headers=all_but), other)
        both = await world.token_for([own, other])
        resp = await c.request(method, path, json=body, headers=both)
        assert resp.status_code == ok, (path, resp.text)


async def test_a_refused_disburse_pays_nothing(world: World) -> None:
    c = world.client
    path = f"/api/v1/pay/payroll-runs/{world.run_id}/disburse"
    _assert_needs(await c.post(path, headers=await world.token_for(["pay:write"])), "payroll:read")
    payouts = await c.get("/api/v1/pay/payouts", headers=await world.token_for(["pay:read"]))
    assert payouts.json()["total"] == 0
    # Not even whether the run exists leaks: an unknown run is refused the same way first.
    unknown = "/api/v1/pay/payroll-runs/prun_nope/disburse"
    _assert_needs(
        await c.post(unknown, headers=await world.token_for(["pay:write"])), "payroll:read"
    )


async def test_payroll_read_alone_does_not_open_the_pdf_and_utils_read_alone_neither(
    world: World,
) -> None:
    path = f"/api/v1/utils/documents/payslips/{world.payslip_id}.pdf"
    resp = await world.client.get(path, headers=await world.token_for(["utils:read"]))
    _assert_needs(resp, "payroll:read")
    assert b"%PDF" not in resp.content
    # The other utils routes still need utils:read only.
    resp = await world.client.get(
        "/api/v1/utils/currencies", headers=await world.token_for(["utils:read"])
    )
    assert resp.status_code == 200


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scopes=st.sets(st.sampled_from(ALL_SCOPES), min_size=1))
async def test_the_pdf_opens_iff_the_token_carries_both_scopes(
    world: World, scopes: set[str]
) -> None:
    token = (
        await world.client.post(
            "/api/v1/authorize/token",
            headers=world.dev.exchange_headers(),
            json={"scope": " ".join(sorted(scopes))},
        )
    ).json()["accessToken"]
    path = f"/api/v1/utils/documents/payslips/{world.payslip_id}.pdf"
    resp = await world.client.get(path, headers=bearer(token, world.dev))
    missing = [s for s in ("utils:read", "payroll:read") if s not in scopes]
    if missing:
        _assert_needs(resp, missing[0])  # the first missing, in the declared order
    else:
        assert resp.status_code == 200
        assert resp.content.startswith(b"%PDF-")
