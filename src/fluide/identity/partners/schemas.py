"""Wire models of the workspace and company routes (camelCase JSON, DESIGN §3.7)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, field_validator

from fluide.identity.models import Company, Workspace
from fluide.kit import money
from fluide.kit.schema import CamelModel

CompanyStatus = Literal["ACTIVE", "SUSPENDED"]
Name = Annotated[str, Field(min_length=1, max_length=200, examples=["Acme Payroll Clients"])]
CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$", examples=["NG"])]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", examples=["NGN"])]


def _known_currency(value: str | None) -> str | None:
    if value is not None and not money.is_currency(value):
        raise ValueError("unsupported currency")
    return value


class WorkspaceIn(CamelModel):
    name: Name


class WorkspaceUpdate(CamelModel):
    name: Name | None = None


class WorkspaceOut(CamelModel):
    id: str
    name: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, w: Workspace) -> WorkspaceOut:
        return cls(id=w.id, name=w.name, created_at=w.created_at, updated_at=w.updated_at)


class CompanyIn(CamelModel):
    name: Name
    country_code: CountryCode
    currency: Currency
    status: CompanyStatus = "ACTIVE"

    _currency = field_validator("currency")(_known_currency)


class CompanyUpdate(CamelModel):
    name: Name | None = None
    country_code: CountryCode | None = None
    currency: Currency | None = None
    status: CompanyStatus | None = None

    _currency = field_validator("currency")(_known_currency)


class CompanyOut(CamelModel):
    id: str
    workspace_id: str
    name: str
    country_code: str
    currency: str
    status: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, c: Company) -> CompanyOut:
        return cls(
            id=c.id,
            workspace_id=c.workspace_id,
            name=c.name,
            country_code=c.country_code,
            currency=c.currency,
            status=c.status,
            created_at=c.created_at,
            updated_at=c.updated_at,
        )
