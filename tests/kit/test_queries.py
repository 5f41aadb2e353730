"""kit.queries on SQLite and PostgreSQL: a row of another tenant is the caller's 404, and a page
holds only the caller's rows, in a stable order, with the caller's total."""

from __future__ import annotations

import pytest

from fluide.app import App
from fluide.kit.errors import NotFound
from fluide.kit.pagination import PageParams
from fluide.kit.queries import get_owned, paged
from fluide.products.hr import service
from fluide.products.hr.models import Employee
from fluide.products.hr.schemas import EmployeeCreate
from tests.products.helpers import employee


class Missing(NotFound):
    code, message = "MISSING", "Not here"


async def _employees(runtime: App, tenant: str, n: int) -> list[str]:
    ids = []
    async with runtime.infra.sessionmaker() as session, session.begin():
        for i in range(n):
            body = EmployeeCreate.model_validate(employee(f"{tenant}-{i}"))
            ids.append((await service.create(session, tenant, body, runtime.infra.clock())).id)
    return ids


async def test_get_owned_is_not_found_across_tenants(runtime: App) -> None:
    [mine] = await _employees(runtime, "ten_a", 1)
    async with runtime.infra.sessionmaker() as session:
        row = await get_owned(session, Employee, "ten_a", mine, Missing)
        assert row.id == mine and row.tenant_id == "ten_a"
        for tenant, id_ in (("ten_b", mine), ("ten_a", "emp_nope")):
            with pytest.raises(Missing):
                await get_owned(session, Employee, tenant, id_, Missing)


async def test_paged_keeps_to_the_tenant_and_pages_stably(runtime: App) -> None:
    mine = await _employees(runtime, "ten_a", 5)
    await _employees(runtime, "ten_b", 3)
    async with runtime.infra.sessionmaker() as session:
        pages = [
            await paged(session, Employee, "ten_a", PageParams(page=p, limit=2)) for p in (1, 2, 3)
        ]
        assert [total for _, total in pages] == [5, 5, 5]
        seen = [e.id for rows, _ in pages for e in rows]
        # One timestamp for all (the frozen clock): the id breaks the tie, so no row repeats.
        assert sorted(seen) == sorted(mine) and len(set(seen)) == 5
        rows, total = await paged(
            session,
            Employee,
            "ten_a",
            PageParams(limit=50),
            Employee.employee_code != "ten_a-0",
            order_by=[Employee.employee_code.desc()],
        )
        assert total == 4
        assert [e.employee_code for e in rows] == [f"ten_a-{i}" for i in (4, 3, 2, 1)]
