"""HR wire shapes (camelCase; salary as a decimal string)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field

from fluide.kit.money import CurrencyStr, PositiveAmountStr
from fluide.kit.schema import CamelModel

EmploymentType = Literal["FULL_TIME", "PART_TIME", "CONTRACT", "INTERN"]
EmployeeStatus = Literal["PENDING", "ACTIVE", "INACTIVE", "TERMINATED", "ON_LEAVE"]
CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$", examples=["NG"])]
Email = Annotated[str, Field(pattern=r"^[^@\s]{1,64}@[^@\s]{1,189}$", max_length=254)]
Name = Annotated[str, Field(min_length=1, max_length=100)]


class BankAccount(CamelModel):
    account_number: str = Field(pattern=r"^[0-9A-Za-z]{4,34}$")
    bank_code: str = Field(pattern=r"^[0-9A-Za-z]{1,20}$")


class EmployeeCreate(CamelModel):
    employee_code: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    first_name: Name
    last_name: Name
    email: Email
    department: str | None = Field(default=None, max_length=100)
    designation: str | None = Field(default=None, max_length=100)
    employment_type: EmploymentType = "FULL_TIME"
    status: EmployeeStatus = "ACTIVE"
    salary: PositiveAmountStr
    currency: CurrencyStr
    hire_date: date
    country_code: CountryCode
    bank_account: BankAccount | None = None


class EmployeeUpdate(CamelModel):
    first_name: Name | None = None
    last_name: Name | None = None
    email: Email | None = None
    department: str | None = Field(default=None, max_length=100)
    designation: str | None = Field(default=None, max_length=100)
    employment_type: EmploymentType | None = None
    status: EmployeeStatus | None = None
    salary: PositiveAmountStr | None = None
    currency: CurrencyStr | None = None
    hire_date: date | None = None
    country_code: CountryCode | None = None
    bank_account: BankAccount | None = None


class EmployeeOut(CamelModel):
    id: str
    employee_code: str
    first_name: str
    last_name: str
    email: str
    department: str | None
    designation: str | None
    employment_type: EmploymentType
    status: EmployeeStatus
    salary: str
    currency: str
    hire_date: date
    country_code: str
    bank_account: BankAccount | None
    created_at: datetime
    updated_at: datetime
