"""Property: random operations by two tenants never show one tenant's resource to the other."""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fluide.app import App
from tests.conftest import create_dev
from tests.products.helpers import employee, headers_for

KINDS = ("employee", "run", "payslip", "payout", "entry")
# (method, path template, json) per kind: every way to reach another tenant's resource.
PROBES: dict[str, list[tuple[str, str, Any]]] = {
    "employee": [
        ("GET", "/api/v1/hr/employees/{id}", None),
        ("PATCH", "/api/v1/hr/employees/{id}", {"designation": "x"}),
        ("DELETE", "/api/v1/hr/employees/{id}", None),
    ],
    "run": [
        ("GET", "/api/v1/payroll/runs/{id}", None),
        ("POST", "/api/v1/payroll/runs/{id}/approve", None),
        ("DELETE", "/api/v1/payroll/runs/{id}", None),
        ("POST", "/api/v1/pay/payroll-runs/{id}/disburse", None),
    ],
    "payslip": [
        ("GET", "/api/v1/payroll/payslips/{id}", None),
        ("GET", "/api/v1/utils/documents/payslips/{id}.pdf", None),
    ],
    "payout": [("GET", "/api/v1/pay/payouts/{id}", None)],
    "entry": [
        ("GET", "/api/v1/books/journal-entries/{id}", None),
        ("POST", "/api/v1/books/journal-entries/{id}/void", None),
    ],
}
LISTS = {
    "employee": "/api/v1/hr/employees?limit=200",
    "run": "/api/v1/payroll/runs?limit=200",
    "payslip": "/api/v1/payroll/payslips?limit=200",
    "payout": "/api/v1/pay/payouts?limit=200",
    "entry": "/api/v1/books/journal-entries?limit=200",
}

ops = st.lists(
    st.one_of(
        st.tuples(st.just("create"), st.integers(0, 1), st.sampled_from(KINDS)),
        st.tuples(
            st.just("probe"),
            st.integers(0, 1),
            st.sampled_from(KINDS),
            st.integers(0, 50),
            st.integers(0, 3),
        ),
    ),
    min_size=1,
    max_size=6,
)


class World:
    def __init__(self, client: httpx.AsyncClient, headers: list[dict[str, str]]) -> None:
        self.client = client
        self.headers = headers
        self.owned: list[dict[str, list[str]]] = [defaultdict(list), defaultdict(list)]
        self.seq = itertools.count()

    async def post(self, t: int, path: str, body: Any = None) -> dict[str, Any]:
        resp = await self.client.post(path, json=body, headers=self.headers[t])
        assert resp.status_code in (200, 201), resp.text
        out: dict[str, Any] = resp.json()
        return out

    async def create(self, t: int, kind: str) -> None:
        mine = self.owned[t]
        n = next(self.seq)
        if kind in ("employee", "run", "payslip"):
            created = await self.post(t, "/api/v1/hr/employees", employee(f"H{n}", "600000"))
            mine["employee"].append(created["id"])
        if kind in ("run", "payslip"):
            run = await self.post(
                t,
                "/api/v1/payroll/runs",
                {"periodMonth": 1 + n % 12, "periodYear": 2026, "payDate": "2026-11-28"},
            )
            mine["run"].append(run["id"])
            mine["payslip"] += [s["id"] for s in run["payslips"]]
            mine["entry"] += []  # a draft run posts nothing
        if kind == "payout":
            await self.post(t, "/api/v1/pay/wallets/USD/fund", {"amount": "1.00"})
            mine["entry"].append("?")  # funding posts an entry (id learned from the list)
            payout = await self.post(
                t,
                "/api/v1/pay/payouts",
                {
                    "amount": "1.00",
                    "currency": "USD",
                    "recipient": {"name": "P", "accountNumber": "12345678", "bankCode": "1"},
                    "reference": f"p{n}",
                },
            )
            mine["payout"].append(payout["id"])
        if kind == "entry":
            entry = await self.post(
                t,
                "/api/v1/books/journal-entries",
                {
                    "date": "2026-11-01",
                    "description": f"e{n}",
                    "currency": "USD",
                    "lines": [
                        {"accountCode": "6800", "debit": "1.00"},
                        {"accountCode": "1000", "credit": "1.00"},
                    ],
                },
            )
            mine["entry"].append(entry["id"])

    async def probe(self, t: int, kind: str, index: int, how: int) -> None:
        theirs = [i for i in self.owned[1 - t][kind] if i != "?"]
        target = theirs[index % len(theirs)] if theirs else f"missing_{index}"
        method, template, body = PROBES[kind][how % len(PROBES[kind])]
        resp = await self.client.request(
            method, template.format(id=target), json=body, headers=self.headers[t]
        )
        assert resp.status_code == 404, (method, template, resp.status_code, resp.text)
        assert target not in resp.text

    async def probe_everything(self) -> None:
        """Every known resource of each tenant, by every route, from the other tenant."""
        for t in (0, 1):
            for kind in KINDS:
                for index in range(len(self.owned[1 - t][kind])):
                    for how in range(len(PROBES[kind])):
                        await self.probe(t, kind, index, how)

    async def check_lists(self) -> None:
        listed: list[dict[str, set[str]]] = [{}, {}]
        for t in (0, 1):
            for kind, path in LISTS.items():
                resp = await self.client.get(path, headers=self.headers[t])
                assert resp.status_code == 200
                listed[t][kind] = {item["id"] for item in resp.json()["items"]}
        for t in (0, 1):
            for kind in KINDS:
                assert not listed[t][kind] & listed[1 - t][kind]
                known_theirs = {i for i in self.owned[1 - t][kind] if i != "?"}
                assert not listed[t][kind] & known_theirs
                known_mine = {i for i in self.owned[t][kind] if i != "?"}
                assert known_mine <= listed[t][kind]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(program=ops)
async def test_two_tenants_never_see_each_other(
    client: httpx.AsyncClient, runtime: App, program: list[tuple[Any, ...]]
) -> None:
    # Fresh tenants per example: the fixtures live across examples, the property per example.
    a, b = await create_dev(runtime), await create_dev(runtime)
    world = World(client, [await headers_for(client, a), await headers_for(client, b)])
    for op in program:
        if op[0] == "create":
            await world.create(op[1], op[2])
        else:
            await world.probe(op[1], op[2], op[3], op[4])
    await world.check_lists()
    await world.probe_everything()
    await world.check_lists()
