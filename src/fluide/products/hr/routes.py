"""HR routes: thin; the service does the work."""

from __future__ import annotations

from typing import Literal

from fastapi import Query, Request

from fluide.apidocs import error_responses
from fluide.gateway import CurrentPrincipal, guarded_router, require_scope
from fluide.kit.errors import ValidationFailed
from fluide.kit.pagination import Page, PageDep
from fluide.kit.uow import DbSession, get_infra
from fluide.products.hr import service
from fluide.products.hr.schemas import EmployeeCreate, EmployeeOut, EmployeeUpdate
from fluide.products.hr.service import EmployeeCodeTaken, EmployeeNotFound

router = guarded_router("hr")
READ = [require_scope("hr:read")]
WRITE = [require_scope("hr:write")]


@router.post(
    "/employees",
    operation_id="hr.employees.create",
    status_code=201,
    response_model=EmployeeOut,
    dependencies=WRITE,
    responses=error_responses(ValidationFailed, EmployeeCodeTaken),
)
async def create_employee(
    body: EmployeeCreate, principal: CurrentPrincipal, session: DbSession, request: Request
) -> EmployeeOut:
    """Create an employee."""
    now = get_infra(request).clock()
    return service.to_out(await service.create(session, principal.owner_id, body, now))


@router.get(
    "/employees",
    response_model=Page[EmployeeOut],
    dependencies=READ,
    operation_id="hr.employees.list",
)
async def list_employees(
    principal: CurrentPrincipal,
    session: DbSession,
    params: PageDep,
    status: Literal["PENDING", "ACTIVE", "INACTIVE", "TERMINATED", "ON_LEAVE"] | None = Query(None),
) -> Page[EmployeeOut]:
    """List employees (filter by `q` and `status`)."""
    rows, total = await service.list_employees(session, principal.owner_id, params, status)
    return Page.of([service.to_out(e) for e in rows], total, params)


@router.get(
    "/employees/{employee_id}",
    operation_id="hr.employees.get",
    response_model=EmployeeOut,
    dependencies=READ,
    responses=error_responses(EmployeeNotFound),
)
async def get_employee(
    employee_id: str, principal: CurrentPrincipal, session: DbSession
) -> EmployeeOut:
    """One employee."""
    return service.to_out(await service.get(session, principal.owner_id, employee_id))


@router.patch(
    "/employees/{employee_id}",
    operation_id="hr.employees.update",
    response_model=EmployeeOut,
    dependencies=WRITE,
    responses=error_responses(ValidationFailed, EmployeeNotFound),
)
async def update_employee(
    employee_id: str,
    body: EmployeeUpdate,
    principal: CurrentPrincipal,
    session: DbSession,
    request: Request,
) -> EmployeeOut:
    """Change an employee."""
    now = get_infra(request).clock()
    employee = await service.update(session, principal.owner_id, employee_id, body, now)
    return service.to_out(employee)


@router.delete(
    "/employees/{employee_id}",
    operation_id="hr.employees.delete",
    response_model=EmployeeOut,
    dependencies=WRITE,
    responses=error_responses(EmployeeNotFound),
)
async def terminate_employee(
    employee_id: str, principal: CurrentPrincipal, session: DbSession, request: Request
) -> EmployeeOut:
    """Terminate an employee (status `TERMINATED`; nothing is deleted)."""
    now = get_infra(request).clock()
    return service.to_out(await service.terminate(session, principal.owner_id, employee_id, now))
