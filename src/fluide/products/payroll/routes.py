"""Payroll routes."""

from __future__ import annotations

from typing import Literal

from fastapi import Query, Request, Response

from fluide.apidocs import error_responses
from fluide.gateway import CurrentPrincipal, guarded_router, require_scope
from fluide.kit.errors import ValidationFailed
from fluide.kit.pagination import Page, PageDep
from fluide.kit.uow import DbSession, get_infra
from fluide.products.hr.service import EmployeeNotFound
from fluide.products.payroll import service
from fluide.products.payroll.schemas import PayslipOut, RunCreate, RunOut, SettingsIn, SettingsOut
from fluide.products.payroll.service import (
    PayrollMixedCurrencies,
    PayrollNoEmployees,
    PayrollRulesMissing,
    PayrollRunLocked,
    PayrollRunNotFound,
    PayslipNotFound,
)

router = guarded_router("payroll")
READ = [require_scope("payroll:read")]
WRITE = [require_scope("payroll:write")]
# Calculating a run reads HR's current employees and answers with their names, codes, bank
# accounts and salary-derived pay (an unknown employee id is a 404): it also needs HR's read
# scope (DESIGN §4). Reading runs and payslips later needs payroll:read only: a payslip is
# Payroll's own record, taken when the run was calculated by a token that could read HR.
CREATE_RUN = [require_scope("payroll:write", "hr:read")]


@router.get(
    "/settings", operation_id="payroll.settings.get", response_model=SettingsOut, dependencies=READ
)
async def get_settings(principal: CurrentPrincipal, session: DbSession) -> SettingsOut:
    """The statutory tables in force for this tenant (shipped defaults or its own)."""
    return await service.get_settings(session, principal.owner_id)


@router.put(
    "/settings",
    operation_id="payroll.settings.update",
    response_model=SettingsOut,
    dependencies=WRITE,
    responses=error_responses(ValidationFailed),
)
async def put_settings(
    body: SettingsIn, principal: CurrentPrincipal, session: DbSession, request: Request
) -> SettingsOut:
    """Replace this tenant's statutory tables."""
    now = get_infra(request).clock()
    return await service.put_settings(session, principal.owner_id, body, now)


@router.post(
    "/runs",
    operation_id="payroll.runs.create",
    status_code=201,
    response_model=RunOut,
    dependencies=CREATE_RUN,
    responses=error_responses(
        ValidationFailed,
        PayrollNoEmployees,
        PayrollMixedCurrencies,
        PayrollRulesMissing,
        EmployeeNotFound,
    ),
)
async def create_run(
    body: RunCreate, principal: CurrentPrincipal, session: DbSession, request: Request
) -> RunOut:
    """Calculate a DRAFT run: one payslip per active employee."""
    now = get_infra(request).clock()
    run = await service.create_run(session, principal.owner_id, body, now)
    return service.run_out(run, await service.run_payslips(session, principal.owner_id, run.id))


@router.get(
    "/runs", operation_id="payroll.runs.list", response_model=Page[RunOut], dependencies=READ
)
async def list_runs(
    principal: CurrentPrincipal,
    session: DbSession,
    params: PageDep,
    status: Literal["DRAFT", "APPROVED"] | None = Query(None),
) -> Page[RunOut]:
    """List payroll runs."""
    rows, total = await service.list_runs(session, principal.owner_id, params, status)
    return Page.of([service.run_out(r) for r in rows], total, params)


@router.get(
    "/runs/{run_id}",
    operation_id="payroll.runs.get",
    response_model=RunOut,
    dependencies=READ,
    responses=error_responses(PayrollRunNotFound),
)
async def get_run(run_id: str, principal: CurrentPrincipal, session: DbSession) -> RunOut:
    """One run with its payslips."""
    run = await service.get_run(session, principal.owner_id, run_id)
    return service.run_out(run, await service.run_payslips(session, principal.owner_id, run_id))


@router.post(
    "/runs/{run_id}/approve",
    operation_id="payroll.runs.approve",
    response_model=RunOut,
    dependencies=WRITE,
    responses=error_responses(PayrollRunNotFound, PayrollRunLocked),
)
async def approve_run(
    run_id: str, principal: CurrentPrincipal, session: DbSession, request: Request
) -> RunOut:
    """Approve (lock) a run and post its journal entry to Books."""
    now = get_infra(request).clock()
    run = await service.approve_run(session, principal.owner_id, run_id, now)
    return service.run_out(run, await service.run_payslips(session, principal.owner_id, run_id))


@router.delete(
    "/runs/{run_id}",
    operation_id="payroll.runs.delete",
    status_code=204,
    dependencies=WRITE,
    responses=error_responses(PayrollRunNotFound, PayrollRunLocked),
)
async def delete_run(run_id: str, principal: CurrentPrincipal, session: DbSession) -> Response:
    """Discard a DRAFT run (an approved run is locked)."""
    await service.delete_run(session, principal.owner_id, run_id)
    return Response(status_code=204)


@router.get(
    "/payslips",
    operation_id="payroll.payslips.list",
    response_model=Page[PayslipOut],
    dependencies=READ,
)
async def list_payslips(
    principal: CurrentPrincipal,
    session: DbSession,
    params: PageDep,
    run_id: str | None = Query(None, alias="runId", max_length=40),
) -> Page[PayslipOut]:
    """List payslips (filter by `runId`)."""
    rows, total = await service.list_payslips(session, principal.owner_id, params, run_id)
    return Page.of([service.payslip_out(s) for s in rows], total, params)


@router.get(
    "/payslips/{payslip_id}",
    operation_id="payroll.payslips.get",
    response_model=PayslipOut,
    dependencies=READ,
    responses=error_responses(PayslipNotFound),
)
async def get_payslip(
    payslip_id: str, principal: CurrentPrincipal, session: DbSession
) -> PayslipOut:
    """One payslip."""
    return service.payslip_out(await service.get_payslip(session, principal.owner_id, payslip_id))
