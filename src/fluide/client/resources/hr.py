"""``client.hr``: employees."""

from __future__ import annotations

from datetime import date
from typing import Any

from typing_extensions import Unpack

from fluide.client._call import NOT_GIVEN, NotGiven, RequestOptions, body, model, query
from fluide.client._pagination import PageData, page_of
from fluide.client._resource import Executor, ModeT, Resource, Spec, list_route, operation, route
from fluide.client.models import BankAccount, Employee, EmployeeCreate, EmployeeUpdate
from fluide.client.resources._common import Amount, health_spec

Nested = BankAccount | dict[str, Any]


class Employees(Resource[ModeT]):
    @list_route("/api/v1/hr/employees")
    def list(
        self,
        *,
        status: str | NotGiven = NOT_GIVEN,
        q: str | NotGiven = NOT_GIVEN,
        page: int | NotGiven = NOT_GIVEN,
        limit: int | NotGiven = NOT_GIVEN,
        **options: Unpack[RequestOptions],
    ) -> Spec[PageData[Employee]]:
        """Employees, every page (``status``: ACTIVE, …; ``q``: free text; ``limit``: page
        size, at most 200)."""
        params = query(status=status, q=q, page=page, limit=limit)
        return Spec(page_of(Employee), params=params, options=options)

    @route("GET", "/api/v1/hr/employees/{employee_id}")
    def get(self, employee_id: str, **options: Unpack[RequestOptions]) -> Spec[Employee]:
        """One employee (``NotFoundError`` for an id that is not in your tenant)."""
        return Spec(model(Employee), path={"employee_id": employee_id}, options=options)

    @route("POST", "/api/v1/hr/employees")
    def create(
        self,
        *,
        employee_code: str,
        first_name: str,
        last_name: str,
        email: str,
        salary: Amount,
        currency: str,
        hire_date: date | str,
        country_code: str,
        department: str | NotGiven | None = NOT_GIVEN,
        designation: str | NotGiven | None = NOT_GIVEN,
        employment_type: str | NotGiven = NOT_GIVEN,
        status: str | NotGiven = NOT_GIVEN,
        bank_account: Nested | NotGiven | None = NOT_GIVEN,
        idempotency_key: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> Spec[Employee]:
        """Create an employee (``ConflictError`` if ``employee_code`` is taken)."""
        fields = {
            "employee_code": employee_code,
            "first_name": first_name,
            "last_name": last_name,
            "email": email,
            "salary": salary,
            "currency": currency,
            "hire_date": hire_date,
            "country_code": country_code,
            "department": department,
            "designation": designation,
            "employment_type": employment_type,
            "status": status,
            "bank_account": bank_account,
        }
        return Spec(
            model(Employee),
            json=body(EmployeeCreate, fields),
            options=options,
            idempotency_key=idempotency_key,
        )

    @route("PATCH", "/api/v1/hr/employees/{employee_id}")
    def update(
        self,
        employee_id: str,
        *,
        first_name: str | NotGiven = NOT_GIVEN,
        last_name: str | NotGiven = NOT_GIVEN,
        email: str | NotGiven = NOT_GIVEN,
        department: str | NotGiven | None = NOT_GIVEN,
        designation: str | NotGiven | None = NOT_GIVEN,
        employment_type: str | NotGiven = NOT_GIVEN,
        status: str | NotGiven = NOT_GIVEN,
        salary: Amount | NotGiven = NOT_GIVEN,
        currency: str | NotGiven = NOT_GIVEN,
        hire_date: date | str | NotGiven = NOT_GIVEN,
        country_code: str | NotGiven = NOT_GIVEN,
        bank_account: Nested | NotGiven | None = NOT_GIVEN,
        **options: Unpack[RequestOptions],
    ) -> Spec[Employee]:
        """Change the fields you pass; ``None`` clears ``department``, ``designation`` or
        ``bank_account``."""
        fields = {
            "first_name": first_name,
            "last_name": last_name,
            "email": email,
            "department": department,
            "designation": designation,
            "employment_type": employment_type,
            "status": status,
            "salary": salary,
            "currency": currency,
            "hire_date": hire_date,
            "country_code": country_code,
            "bank_account": bank_account,
        }
        return Spec(
            model(Employee),
            path={"employee_id": employee_id},
            json=body(EmployeeUpdate, fields),
            options=options,
        )

    @route("DELETE", "/api/v1/hr/employees/{employee_id}")
    def delete(self, employee_id: str, **options: Unpack[RequestOptions]) -> Spec[Employee]:
        """Terminate an employee (status TERMINATED; nothing is deleted); the employee after."""
        return Spec(model(Employee), path={"employee_id": employee_id}, options=options)


class HR(Resource[ModeT]):
    def __init__(self, client: Executor) -> None:
        super().__init__(client)
        self.employees: Employees[ModeT] = Employees(client)

    health = operation("GET", "/api/v1/hr/health", health_spec, dedupes=False)
