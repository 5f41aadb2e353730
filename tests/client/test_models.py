"""The typed models: snake_case in Python, camelCase on the wire, Decimal money, dates, and
tolerance for what a newer server may add."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pydantic
import pytest

from fluide.client.models import (
    Company,
    Employee,
    JournalLineInput,
    SecretRotation,
    TaxBand,
    Wallet,
    Workspace,
)

WIRE = {
    "id": "emp_1",
    "employeeCode": "E1",
    "firstName": "Ada",
    "lastName": "Okafor",
    "email": "ada@example.com",
    "department": None,
    "designation": None,
    "employmentType": "FULL_TIME",
    "status": "ACTIVE",
    "salary": "7200000.10",
    "currency": "NGN",
    "hireDate": "2026-02-01",
    "countryCode": "NG",
    "bankAccount": {"accountNumber": "0123456789", "bankCode": "058"},
    "createdAt": "2026-02-01T09:30:00Z",
    "updatedAt": "2026-02-01T09:30:00Z",
}


def test_wire_json_becomes_typed_snake_case_attributes() -> None:
    employee = Employee.model_validate(WIRE)
    assert employee.first_name == "Ada" and employee.bank_account is not None
    assert employee.bank_account.account_number == "0123456789"
    assert employee.salary == Decimal("7200000.10") and isinstance(employee.salary, Decimal)
    assert employee.hire_date == date(2026, 2, 1)
    assert isinstance(employee.created_at, datetime) and employee.created_at.utcoffset() is not None
    assert employee.model_dump(mode="json", by_alias=True) == WIRE  # and back, unchanged


def test_what_a_newer_server_adds_is_kept_not_refused() -> None:
    newer = {**WIRE, "status": "SUSPENDED", "middleName": "N.", "payGrade": {"band": 3}}
    employee = Employee.model_validate(newer)
    assert employee.status == "SUSPENDED"
    assert employee.model_extra == {"middleName": "N.", "payGrade": {"band": 3}}
    lean = {k: v for k, v in WIRE.items() if k not in ("department", "designation", "bankAccount")}
    assert Employee.model_validate(lean).department is None


def test_money_is_never_a_float() -> None:
    with pytest.raises(pydantic.ValidationError, match="float"):
        Wallet.model_validate({**_wallet(), "balance": 0.1})
    with pytest.raises(pydantic.ValidationError, match="float"):
        JournalLineInput(account_code="1000", debit=0.1)  # type: ignore[arg-type]
    line = JournalLineInput(account_code="1000", debit=Decimal("0.1") + Decimal("0.2"))
    assert line.model_dump(mode="json", by_alias=True, exclude_unset=True) == {
        "accountCode": "1000",
        "debit": "0.3",
    }
    assert TaxBand(rate=Decimal("7E-2")).model_dump(mode="json")["rate"] == "0.07"


def test_a_rotated_secret_never_shows_in_a_repr() -> None:
    rotation = SecretRotation.model_validate(
        {
            "apiKey": "fl_dev_x",
            "apiSecret": "fl_sk_the_new_one",
            "rotatedAt": "2026-11-27T12:00:00Z",
            "previousSecretExpiresAt": None,
        }
    )
    assert rotation.api_secret == "fl_sk_the_new_one"
    assert "fl_sk_the_new_one" not in repr(rotation) and "fl_sk_the_new_one" not in str(rotation)


def _wallet() -> dict[str, str]:
    return {
        "id": "w1",
        "currency": "USD",
        "balance": "1.00",
        "createdAt": "2026-01-01T00:00:00Z",
        "updatedAt": "2026-01-01T00:00:00Z",
    }


def test_workspaces_and_companies_read_snake_case_and_keep_what_is_new() -> None:
    at = "2026-02-01T09:30:00Z"
    company = {
        "id": "cmp_1",
        "workspaceId": "wsp_1",
        "name": "Acme Ltd",
        "countryCode": "NG",
        "currency": "NGN",
        "status": "ARCHIVED",  # a status this SDK does not know yet
        "createdAt": at,
        "updatedAt": at,
        "billingPlan": {"tier": 2},
    }
    parsed = Company.model_validate(company)
    assert parsed.workspace_id == "wsp_1" and parsed.country_code == "NG"
    assert parsed.status == "ARCHIVED" and parsed.model_extra == {"billingPlan": {"tier": 2}}
    assert isinstance(parsed.created_at, datetime)
    assert parsed.model_dump(mode="json", by_alias=True)["workspaceId"] == "wsp_1"
    ws = Workspace.model_validate({"id": "wsp_1", "name": "N", "createdAt": at, "updatedAt": at})
    assert ws.updated_at.utcoffset() is not None
    with pytest.raises(pydantic.ValidationError):
        Workspace.model_validate({"id": "wsp_1", "createdAt": at, "updatedAt": at})  # no name
