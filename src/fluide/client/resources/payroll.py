"""``client.payroll``: runs, payslips and the statutory settings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from typing_extensions import Unpack

from fluide.client._call import (
    NOT_GIVEN,
    NotGiven,
    RequestOptions,
    body,
    model,
    nothing,
    query,
)
from fluide.client._pagination import PageData, page_of
from fluide.client._resource import Executor, ModeT, Resource, Spec, list_route, operation, route
from fluide.client.models import (
    PayrollRun,
    PayrollSettings,
    PayrollSettingsUpdate,
    Payslip,
    RuleSet,
    RunCreate,
)
from fluide.client.resources._common import health_spec

Rules = Sequence[RuleSet | dict[str, Any]]
Ids = Sequence[str]


class Runs(Resource[ModeT]):
    @list_route("/api/v1/payroll/runs")
    def list(
        self,
        *,
        status: str | NotGiven = NOT_GIVEN,
        q: str | NotGiven = NOT_GIVEN,
        page: int | NotGiven = NOT_GIVEN,
        limit: int | NotGiven = NOT_GIVEN,
        **options: Unpack[RequestOptions],
    ) -> Spec[PageData[PayrollRun]]:
        """Payroll runs, every page (``status``: DRAFT or APPROVED)."""
        params = query(status=status, q=q, page=page, limit=limit)
        return Spec(page_of(PayrollRun), params=params, options=options)

    @route("GET", "/api/v1/payroll/runs/{run_id}")
    def get(self, run_id: str, **options: Unpack[RequestOptions]) -> Spec[PayrollRun]:
        """One run with its payslips."""
        return Spec(model(PayrollRun), path={"run_id": run_id}, options=options)

    @route("POST", "/api/v1/payroll/runs")
    def create(
        self,
        *,
        period_month: int,
        period_year: int,
        pay_date: date | str,
        employee_ids: Ids | NotGiven = NOT_GIVEN,
        currency: str | NotGiven = NOT_GIVEN,
        idempotency_key: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> Spec[PayrollRun]:
        """Calculate a DRAFT run: one payslip per active employee (or per ``employee_ids``)."""
        fields = {
            "period_month": period_month,
            "period_year": period_year,
            "pay_date": pay_date,
            "employee_ids": list(employee_ids) if employee_ids else employee_ids,
            "currency": currency,
        }
        return Spec(
            model(PayrollRun),
            json=body(RunCreate, fields),
            options=options,
            idempotency_key=idempotency_key,
        )

    @route("POST", "/api/v1/payroll/runs/{run_id}/approve")
    def approve(
        self, run_id: str, *, idempotency_key: str | None = None, **options: Unpack[RequestOptions]
    ) -> Spec[PayrollRun]:
        """Approve (lock) a DRAFT run; its journal entry is posted to Books."""
        return Spec(
            model(PayrollRun),
            path={"run_id": run_id},
            options=options,
            idempotency_key=idempotency_key,
        )

    @route("DELETE", "/api/v1/payroll/runs/{run_id}")
    def delete(self, run_id: str, **options: Unpack[RequestOptions]) -> Spec[None]:
        """Discard a DRAFT run (``ConflictError`` for an approved one)."""
        return Spec(nothing, path={"run_id": run_id}, options=options)


class Payslips(Resource[ModeT]):
    @list_route("/api/v1/payroll/payslips")
    def list(
        self,
        *,
        run_id: str | NotGiven = NOT_GIVEN,
        q: str | NotGiven = NOT_GIVEN,
        page: int | NotGiven = NOT_GIVEN,
        limit: int | NotGiven = NOT_GIVEN,
        **options: Unpack[RequestOptions],
    ) -> Spec[PageData[Payslip]]:
        """Payslips, every page (``run_id``: of one run)."""
        params = query(runId=run_id, q=q, page=page, limit=limit)
        return Spec(page_of(Payslip), params=params, options=options)

    @route("GET", "/api/v1/payroll/payslips/{payslip_id}")
    def get(self, payslip_id: str, **options: Unpack[RequestOptions]) -> Spec[Payslip]:
        return Spec(model(Payslip), path={"payslip_id": payslip_id}, options=options)


class Settings(Resource[ModeT]):
    @route("GET", "/api/v1/payroll/settings")
    def get(self, **options: Unpack[RequestOptions]) -> Spec[PayrollSettings]:
        """The statutory tables in force: the shipped defaults or your own."""
        return Spec(model(PayrollSettings), options=options)

    @route("PUT", "/api/v1/payroll/settings")
    def update(self, *, rules: Rules, **options: Unpack[RequestOptions]) -> Spec[PayrollSettings]:
        """Replace your statutory tables (every rule set at once)."""
        return Spec(
            model(PayrollSettings),
            json=body(PayrollSettingsUpdate, {"rules": list(rules)}),
            options=options,
        )


class Payroll(Resource[ModeT]):
    def __init__(self, client: Executor) -> None:
        super().__init__(client)
        self.runs: Runs[ModeT] = Runs(client)
        self.payslips: Payslips[ModeT] = Payslips(client)
        self.settings: Settings[ModeT] = Settings(client)

    health = operation("GET", "/api/v1/payroll/health", health_spec, dedupes=False)
