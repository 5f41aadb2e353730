"""Described calls: path parameters stay one segment of their route, bodies carry only what was
given (camelCase, amounts as strings), and every POST carries an Idempotency-Key."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from urllib.parse import unquote

import httpx
import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fluide.client import NOT_GIVEN, FluideClient
from fluide.client._call import body, path_segment, post_headers, query
from fluide.client.models import EmployeeCreate, EmployeeUpdate
from tests.client.keys import KEY, SECRET

EMPLOYEE = {
    "id": "emp_1",
    "employeeCode": "E1",
    "firstName": "Ada",
    "lastName": "Okafor",
    "email": "ada@example.com",
    "employmentType": "FULL_TIME",
    "status": "ACTIVE",
    "salary": "100.00",
    "currency": "NGN",
    "hireDate": "2026-02-01",
    "countryCode": "NG",
    "createdAt": "2026-02-01T00:00:00Z",
    "updatedAt": "2026-02-01T00:00:00Z",
}
TOKEN = {"accessToken": "jwt", "expiresIn": 900, "exp": 2, "iat": 1, "jti": "j1"}


class Fake:
    """A server that answers every product call with one employee and records the requests."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/authorize/token"):
            return httpx.Response(200, json=TOKEN)
        self.requests.append(request)
        return httpx.Response(200, json=EMPLOYEE)

    def client(self) -> FluideClient:
        return FluideClient("http://fluide.test", KEY, SECRET, transport=httpx.MockTransport(self))


@settings(max_examples=150)
@given(
    employee_id=st.text(min_size=1, max_size=40).filter(
        lambda v: v not in (".", "..") and "/" not in v and "\\" not in v
    )
)
def test_a_path_parameter_stays_one_segment_of_its_route(employee_id: str) -> None:
    fake = Fake()
    with fake.client() as fluide:
        fluide.hr.employees.get(employee_id)
    (request,) = fake.requests
    raw = request.url.raw_path.decode("ascii")
    assert raw.startswith("/api/v1/hr/employees/")
    rest = raw.removeprefix("/api/v1/hr/employees/")
    assert "/" not in rest and "?" not in rest and "#" not in rest
    assert unquote(rest) == employee_id


@pytest.mark.parametrize(
    "bad", ["", ".", "..", "../authorize/revoke", "x/companies/y", "x/", "/x", "a\\b"]
)
def test_dot_segments_slashes_and_empty_ids_are_refused_before_sending(bad: str) -> None:
    """A slash, even escaped, would reach another route: servers route on the decoded path."""
    fake = Fake()
    with fake.client() as fluide, pytest.raises(ValueError, match="path parameter"):
        fluide.hr.employees.get(bad)
    assert fake.requests == []
    with pytest.raises(ValueError, match="path parameter"):
        path_segment(bad)


def test_a_body_carries_only_what_was_given() -> None:
    sent = body(
        EmployeeUpdate,
        {
            "department": None,
            "designation": NOT_GIVEN,
            "salary": Decimal("1E+3"),
            "hire_date": NOT_GIVEN,
        },
    )
    assert sent == {"department": None, "salary": "1000"}
    full = body(
        EmployeeCreate,
        {
            "employee_code": "E1",
            "first_name": "Ada",
            "last_name": "O",
            "email": "a@example.com",
            "salary": 7200000,
            "currency": "NGN",
            "hire_date": date(2026, 2, 1),
            "country_code": "NG",
            "bank_account": {"accountNumber": "0123456789", "bank_code": "058"},
            "status": NOT_GIVEN,
        },
    )
    assert full["salary"] == "7200000" and full["hireDate"] == "2026-02-01"
    assert full["bankAccount"] == {"accountNumber": "0123456789", "bankCode": "058"}
    assert "status" not in full and "employmentType" not in full


def test_a_float_amount_is_refused_before_sending() -> None:
    fake = Fake()
    with fake.client() as fluide, pytest.raises(pydantic.ValidationError, match="float"):
        fluide.hr.employees.update("emp_1", salary=0.1)  # type: ignore[arg-type]
    assert fake.requests == []


def test_query_parameters_drop_what_was_not_given() -> None:
    assert query(status=NOT_GIVEN, q=None, page=2, asOf=date(2026, 1, 31)) == {
        "page": 2,
        "asOf": "2026-01-31",
    }


def test_every_post_carries_a_fresh_key_unless_one_is_given() -> None:
    fake = Fake()
    new = {
        "employee_code": "E1",
        "first_name": "Ada",
        "last_name": "Okafor",
        "email": "ada@example.com",
        "salary": "100.00",
        "currency": "NGN",
        "hire_date": "2026-02-01",
        "country_code": "NG",
    }
    with fake.client() as fluide:
        for _ in range(3):
            fluide.hr.employees.create(**new)
        fluide.hr.employees.create(**new, idempotency_key="mine-1")
        fluide.hr.employees.create(**new, extra_headers={"Idempotency-Key": "mine-2"})
        fluide.hr.employees.get("emp_1")
    keys = [r.headers.get("idempotency-key") for r in fake.requests]
    assert len(set(keys[:3])) == 3 and all(keys[:3])
    assert keys[3:] == ["mine-1", "mine-2", None]
    assert post_headers(None, {"extra_headers": {"idempotency-key": "x"}}) == {
        "idempotency-key": "x"
    }


def test_per_call_headers_and_timeout_reach_that_call_only() -> None:
    fake = Fake()
    with fake.client() as fluide:
        fluide.hr.employees.get("emp_1", timeout=7.5, extra_headers={"X-Trace": "t-1"})
        fluide.hr.employees.get("emp_1")
        patient = fluide.with_options(timeout=42.0, extra_headers={"X-Team": "payroll"})
        patient.hr.employees.get("emp_1")
        patient.hr.employees.get("emp_1", timeout=1.0, extra_headers={"X-Team": "hr"})
    timeouts = [r.extensions["timeout"]["read"] for r in fake.requests]
    assert timeouts == [7.5, 30.0, 42.0, 1.0]
    assert [r.headers.get("x-trace") for r in fake.requests] == ["t-1", None, None, None]
    assert [r.headers.get("x-team") for r in fake.requests] == [None, None, "payroll", "hr"]


def test_extra_headers_cannot_replace_the_auth_headers_or_carry_the_secret() -> None:
    fake = Fake()
    with fake.client() as fluide:
        fluide.hr.employees.get(
            "emp_1",
            extra_headers={
                "Authorization": "Bearer forged",
                "X-Fluide-Api-Key": "fl_dev_other",
                "X-Fluide-Api-Secret": SECRET,
            },
        )
    (request,) = fake.requests
    assert request.headers["authorization"] == "Bearer jwt"
    assert request.headers["x-fluide-api-key"] == KEY
    assert "x-fluide-api-secret" not in request.headers


def test_a_body_the_sdk_cannot_read_is_a_typed_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token"):
            return httpx.Response(200, json=TOKEN)
        return httpx.Response(200, text="<html>proxy</html>", headers={"x-request-id": "r-1"})

    from fluide.client import APIError

    with FluideClient("http://t", KEY, SECRET, transport=httpx.MockTransport(handler)) as fluide:
        with pytest.raises(APIError) as caught:
            fluide.hr.employees.get("emp_1")
        with pytest.raises(APIError):
            fluide.hr.employees.list()
    assert caught.value.code == "RESPONSE_INVALID" and caught.value.request_id == "r-1"
