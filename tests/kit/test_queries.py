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
            await paged(session, Employee, "ten_a", PageParams(page=p, limit=2))
            for p in (1, 2, 3, 4)
        ]
        # The total rides on the rows; a page past the end (no row) still has it.
        assert [total for _, total in pages] == [5, 5, 5, 5] and pages[3][0] == []
        assert await paged(session, Employee, "ten_none", PageParams()) == ([], 0)
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


# Values with the characters LIKE treats specially, and the escape character itself.
_TEXTS = ["50% off", "a_b", "a\\b", "AbC", "x%y_z\\", "plain", "100%", "a__b", "%_\\"]


async def test_contains_text_takes_the_search_literally(runtime: App) -> None:
    """Every query of up to three characters over an alphabet of LIKE's special characters and
    letters finds exactly the rows whose text contains it (case aside), as Python's ``in``
    says: a ``%`` or ``_`` in a search is never a wildcard, a ``\\`` never an escape."""
    from itertools import product

    from sqlalchemy import select

    from fluide.kit.queries import contains_text

    async with runtime.infra.sessionmaker() as session, session.begin():
        for i, text in enumerate(_TEXTS):
            body = EmployeeCreate.model_validate(employee(f"lit-{i}", department=text))
            await service.create(session, "ten_lit", body, runtime.infra.clock())
    alphabet = ["a", "B", "%", "_", "\\", " "]
    queries = ["".join(p) for n in (1, 2, 3) for p in product(alphabet, repeat=n)]
    async with runtime.infra.sessionmaker() as session:
        for q in queries:
            found = await session.scalars(
                select(Employee.department).where(
                    Employee.tenant_id == "ten_lit", contains_text(Employee.department, q)
                )
            )
            expected = sorted(t for t in _TEXTS if q.lower() in t.lower())
            assert sorted(d or "" for d in found) == expected, q


async def test_hr_search_with_a_percent_is_not_everything(runtime: App) -> None:
    """Through the product's own list: "%" finds the one employee whose department has one."""
    async with runtime.infra.sessionmaker() as session, session.begin():
        for i, text in enumerate(("50% off", "plain")):
            body = EmployeeCreate.model_validate(employee(f"pct-{i}", department=text))
            await service.create(session, "ten_pct", body, runtime.infra.clock())
    async with runtime.infra.sessionmaker() as session:
        rows, total = await service.list_employees(
            session, "ten_pct", PageParams(q="%"), status=None
        )
    assert total == 1 and [r.department for r in rows] == ["50% off"]
