"""HR service: every function takes the tenant and never commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from fluide.kit import money
from fluide.kit.errors import Conflict, NotFound, ValidationFailed
from fluide.kit.ids import new_id
from fluide.kit.pagination import PageParams
from fluide.kit.queries import contains_text, get_owned, paged
from fluide.products.hr.models import Employee
from fluide.products.hr.schemas import BankAccount, EmployeeCreate, EmployeeOut, EmployeeUpdate


class EmployeeNotFound(NotFound):
    code = "EMPLOYEE_NOT_FOUND"
    message = "Employee not found"


class EmployeeCodeTaken(Conflict):
    code = "EMPLOYEE_CODE_TAKEN"
    message = "An employee with this employeeCode already exists"


@dataclass(frozen=True, slots=True)
class PayrollEmployee:
    """What Payroll needs of an employee (Payroll never reads HR tables)."""

    id: str
    employee_code: str
    full_name: str
    annual_salary: Decimal
    currency: str
    country_code: str
    bank_account_number: str | None
    bank_code: str | None


def _salary(text: str, currency: str) -> Decimal:
    if not money.is_currency(currency):
        raise ValidationFailed(errors={"currency": [f"unsupported currency {currency}"]})
    return money.parse(text, currency)


def to_out(e: Employee) -> EmployeeOut:
    bank = (
        BankAccount(account_number=e.bank_account_number, bank_code=e.bank_code)
        if e.bank_account_number and e.bank_code
        else None
    )
    return EmployeeOut(
        id=e.id,
        employee_code=e.employee_code,
        first_name=e.first_name,
        last_name=e.last_name,
        email=e.email,
        department=e.department,
        designation=e.designation,
        employment_type=e.employment_type,
        status=e.status,
        salary=money.fmt(e.salary, e.currency),
        currency=e.currency,
        hire_date=e.hire_date,
        country_code=e.country_code,
        bank_account=bank,
        created_at=e.created_at,
        updated_at=e.updated_at,
    )


async def create(
    session: AsyncSession, tenant_id: str, data: EmployeeCreate, now: datetime
) -> Employee:
    salary = _salary(data.salary, data.currency)
    taken = await session.scalar(
        select(Employee.id).where(
            Employee.tenant_id == tenant_id, Employee.employee_code == data.employee_code
        )
    )
    if taken:
        raise EmployeeCodeTaken
    employee = Employee(
        id=new_id("emp"),
        tenant_id=tenant_id,
        employee_code=data.employee_code,
        first_name=data.first_name,
        last_name=data.last_name,
        email=data.email,
        department=data.department,
        designation=data.designation,
        employment_type=data.employment_type,
        status=data.status,
        salary=salary,
        currency=data.currency,
        hire_date=data.hire_date,
        country_code=data.country_code,
        bank_account_number=data.bank_account.account_number if data.bank_account else None,
        bank_code=data.bank_account.bank_code if data.bank_account else None,
        created_at=now,
        updated_at=now,
    )
    session.add(employee)
    try:
        await session.flush()
    except IntegrityError:  # a concurrent create with the same code won the race
        raise EmployeeCodeTaken from None
    return employee


async def get(session: AsyncSession, tenant_id: str, employee_id: str) -> Employee:
    return await get_owned(session, Employee, tenant_id, employee_id, EmployeeNotFound)


async def list_employees(
    session: AsyncSession, tenant_id: str, params: PageParams, status: str | None
) -> tuple[list[Employee], int]:
    where: list[Any] = []
    if status:
        where.append(Employee.status == status)
    if params.q:
        q = params.q
        where.append(
            or_(
                contains_text(Employee.first_name, q),
                contains_text(Employee.last_name, q),
                contains_text(Employee.email, q),
                contains_text(Employee.employee_code, q),
                contains_text(Employee.department, q),
            )
        )
    return await paged(session, Employee, tenant_id, params, *where)


async def update(
    session: AsyncSession, tenant_id: str, employee_id: str, data: EmployeeUpdate, now: datetime
) -> Employee:
    employee = await get(session, tenant_id, employee_id)
    changes = data.model_dump(exclude_unset=True)
    currency = changes.get("currency") or employee.currency
    if "salary" in changes or "currency" in changes:
        salary_text = changes.get("salary") or money.fmt(employee.salary, employee.currency)
        employee.salary = _salary(salary_text, currency)
        employee.currency = currency
    if "bank_account" in changes:
        bank = data.bank_account
        employee.bank_account_number = bank.account_number if bank else None
        employee.bank_code = bank.bank_code if bank else None
    for field in (
        "first_name",
        "last_name",
        "email",
        "department",
        "designation",
        "employment_type",
        "status",
        "hire_date",
        "country_code",
    ):
        if field in changes:
            value = changes[field]
            if value is None and field not in ("department", "designation"):
                raise ValidationFailed(errors={field: ["may not be null"]})
            setattr(employee, field, value)
    employee.updated_at = now
    await session.flush()
    return employee


async def terminate(
    session: AsyncSession, tenant_id: str, employee_id: str, now: datetime
) -> Employee:
    employee = await get(session, tenant_id, employee_id)
    employee.status = "TERMINATED"
    employee.updated_at = now
    await session.flush()
    return employee


async def payroll_employees(
    session: AsyncSession, tenant_id: str, employee_ids: list[str] | None
) -> list[PayrollEmployee]:
    """Active employees for a payroll run; unknown ids (or another tenant's) are 404."""
    where: list[Any] = [Employee.tenant_id == tenant_id]
    if employee_ids is not None:
        where.append(Employee.id.in_(employee_ids))
    rows = list(await session.scalars(select(Employee).where(*where).order_by(Employee.id)))
    if employee_ids is not None and len({e.id for e in rows}) != len(set(employee_ids)):
        raise EmployeeNotFound("One or more employees were not found")
    return [
        PayrollEmployee(
            id=e.id,
            employee_code=e.employee_code,
            full_name=f"{e.first_name} {e.last_name}",
            annual_salary=e.salary,
            currency=e.currency,
            country_code=e.country_code,
            bank_account_number=e.bank_account_number,
            bank_code=e.bank_code,
        )
        for e in rows
        if e.status == "ACTIVE"
    ]
