"""Payroll service. Reads employees through ``hr.service`` and posts to ``books.service``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import delete, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from fluide.kit import money
from fluide.kit.errors import AppError, Conflict, NotFound, ValidationFailed
from fluide.kit.ids import new_id
from fluide.kit.pagination import PageParams
from fluide.kit.queries import contains_text, get_owned, paged
from fluide.products.books import service as books
from fluide.products.hr import service as hr
from fluide.products.payroll import rules as statutory
from fluide.products.payroll.calc import PayslipFigures, monthly_payslip
from fluide.products.payroll.models import PayrollRun, PayrollSettings, Payslip
from fluide.products.payroll.schemas import (
    BandIO,
    BankAccountOut,
    Deduction,
    PayslipOut,
    RuleSetIO,
    RunCreate,
    RunOut,
    RunTotals,
    SettingsIn,
    SettingsOut,
)


class PayrollRunNotFound(NotFound):
    code, message = "PAYROLL_RUN_NOT_FOUND", "Payroll run not found"


class PayslipNotFound(NotFound):
    code, message = "PAYSLIP_NOT_FOUND", "Payslip not found"


class PayrollRunLocked(Conflict):
    code, message = "PAYROLL_RUN_LOCKED", "This payroll run is approved and can no longer change"


class PayrollRunNotApproved(Conflict):
    code, message = "PAYROLL_RUN_NOT_APPROVED", "This payroll run is not approved yet"


class PayrollRulesMissing(AppError):
    status, code = 400, "PAYROLL_RULES_MISSING"
    message = "No statutory rules for this country on the pay date"


class PayrollNoEmployees(AppError):
    status, code, message = 400, "PAYROLL_NO_EMPLOYEES", "No active employees to pay"


class PayrollMixedCurrencies(AppError):
    status, code = 400, "PAYROLL_MIXED_CURRENCIES"
    message = "The selected employees are paid in several currencies; pass `currency`"


# ---------------------------------------------------------------- settings (statutory tables)


def _to_io(r: statutory.StatutoryRules) -> RuleSetIO:
    return RuleSetIO(
        country_code=r.country_code,
        effective_from=r.effective_from,
        currency=r.currency,
        bands=[
            BandIO(up_to=None if b.up_to is None else f"{b.up_to:f}", rate=f"{b.rate:f}")
            for b in r.bands
        ],
        pension_rate=f"{r.pension_rate:f}",
        pension_tax_deductible=r.pension_tax_deductible,
        source=r.source,
    )


def _from_io(r: RuleSetIO) -> statutory.StatutoryRules:
    return statutory.StatutoryRules(
        country_code=r.country_code,
        effective_from=r.effective_from,
        currency=r.currency,
        bands=tuple(
            statutory.Band(None if b.up_to is None else Decimal(b.up_to), Decimal(b.rate))
            for b in r.bands
        ),
        pension_rate=Decimal(r.pension_rate),
        pension_tax_deductible=r.pension_tax_deductible,
        source=r.source,
    )


async def _tenant_settings(session: AsyncSession, tenant_id: str) -> PayrollSettings | None:
    return await session.get(PayrollSettings, tenant_id)


async def rules_table(session: AsyncSession, tenant_id: str) -> list[statutory.StatutoryRules]:
    row = await _tenant_settings(session, tenant_id)
    if row is None:
        return list(statutory.DEFAULT_RULES)
    return [_from_io(RuleSetIO.model_validate(r)) for r in json.loads(row.rules_json)]


async def get_settings(session: AsyncSession, tenant_id: str) -> SettingsOut:
    row = await _tenant_settings(session, tenant_id)
    table = await rules_table(session, tenant_id)
    return SettingsOut(
        origin="TENANT" if row else "DEFAULT",
        rules=[_to_io(r) for r in table],
        updated_at=row.updated_at if row else None,
    )


async def put_settings(
    session: AsyncSession, tenant_id: str, data: SettingsIn, now: datetime
) -> SettingsOut:
    errors: dict[str, list[str]] = {}
    seen: set[tuple[str, date]] = set()
    for i, r in enumerate(data.rules):
        try:
            statutory.validate(_from_io(r))
        except statutory.RulesError as exc:
            errors[f"rules.{i}"] = [str(exc)]
        if not money.is_currency(r.currency):
            errors.setdefault(f"rules.{i}.currency", []).append("unsupported currency")
        if (r.country_code, r.effective_from) in seen:
            errors.setdefault(f"rules.{i}", []).append("duplicate country and effectiveFrom")
        seen.add((r.country_code, r.effective_from))
    if errors:
        raise ValidationFailed(errors=errors)
    payload = json.dumps([r.model_dump(mode="json") for r in data.rules])
    row = await _tenant_settings(session, tenant_id)
    if row is None:
        session.add(PayrollSettings(tenant_id=tenant_id, rules_json=payload, updated_at=now))
    else:
        row.rules_json, row.updated_at = payload, now
    await session.flush()
    return await get_settings(session, tenant_id)


# ---------------------------------------------------------------- runs


async def create_run(
    session: AsyncSession, tenant_id: str, data: RunCreate, now: datetime
) -> PayrollRun:
    employees = await _run_employees(session, tenant_id, data)
    table = await rules_table(session, tenant_id)
    run = PayrollRun(
        id=new_id("prun"),
        tenant_id=tenant_id,
        period_month=data.period_month,
        period_year=data.period_year,
        pay_date=data.pay_date,
        currency=employees[0].currency,
        status="DRAFT",
        employee_count=len(employees),
        total_gross=Decimal(0),
        total_income_tax=Decimal(0),
        total_pension=Decimal(0),
        total_net=Decimal(0),
        journal_entry_id=None,
        approved_at=None,
        created_at=now,
    )
    session.add(run)
    for e in employees:
        rules = _employee_rules(table, e, data.pay_date)
        fig = monthly_payslip(e.annual_salary, e.currency, rules)
        session.add(_payslip(run, e, rules, fig, now))
        run.total_gross += fig.gross
        run.total_income_tax += fig.income_tax
        run.total_pension += fig.pension
        run.total_net += fig.net
    totals = (run.total_gross, run.total_income_tax, run.total_pension, run.total_net)
    if not all(money.storable(t) for t in totals):
        raise ValidationFailed(
            errors={"employeeIds": ["the run's totals are too large to store; split it"]}
        )
    await session.flush()
    return run


async def _run_employees(
    session: AsyncSession, tenant_id: str, data: RunCreate
) -> list[hr.PayrollEmployee]:
    """The run's employees: at least one, all paid in one currency."""
    employees = await hr.payroll_employees(session, tenant_id, data.employee_ids)
    if data.currency:
        employees = [e for e in employees if e.currency == data.currency]
    if not employees:
        raise PayrollNoEmployees
    if len({e.currency for e in employees}) > 1:
        raise PayrollMixedCurrencies
    return employees


def _employee_rules(
    table: list[statutory.StatutoryRules], e: hr.PayrollEmployee, pay_date: date
) -> statutory.StatutoryRules:
    rules = statutory.rules_for(table, e.country_code, pay_date)
    if rules is None:
        raise PayrollRulesMissing(
            f"No statutory rules for country {e.country_code} on {pay_date.isoformat()}"
        )
    if rules.currency != e.currency:
        raise ValidationFailed(
            errors={
                "currency": [
                    f"employee {e.employee_code} is paid in {e.currency} but the "
                    f"{e.country_code} rules are in {rules.currency}"
                ]
            }
        )
    return rules


def _payslip(
    run: PayrollRun,
    e: hr.PayrollEmployee,
    rules: statutory.StatutoryRules,
    fig: PayslipFigures,
    now: datetime,
) -> Payslip:
    return Payslip(
        id=new_id("pslip"),
        tenant_id=run.tenant_id,
        run_id=run.id,
        employee_id=e.id,
        employee_code=e.employee_code,
        employee_name=e.full_name,
        country_code=e.country_code,
        currency=e.currency,
        gross=fig.gross,
        income_tax=fig.income_tax,
        pension=fig.pension,
        net=fig.net,
        bank_account_number=e.bank_account_number,
        bank_code=e.bank_code,
        rules_source=rules.source[:500],
        created_at=now,
    )


async def get_run(session: AsyncSession, tenant_id: str, run_id: str) -> PayrollRun:
    return await get_owned(session, PayrollRun, tenant_id, run_id, PayrollRunNotFound)


async def list_runs(
    session: AsyncSession, tenant_id: str, params: PageParams, status: str | None
) -> tuple[list[PayrollRun], int]:
    where: list[Any] = []
    if status:
        where.append(PayrollRun.status == status)
    return await paged(session, PayrollRun, tenant_id, params, *where)


async def run_payslips(session: AsyncSession, tenant_id: str, run_id: str) -> list[Payslip]:
    return list(
        await session.scalars(
            select(Payslip)
            .where(Payslip.tenant_id == tenant_id, Payslip.run_id == run_id)
            .order_by(Payslip.employee_code, Payslip.id)
        )
    )


async def approve_run(
    session: AsyncSession, tenant_id: str, run_id: str, now: datetime
) -> PayrollRun:
    """Lock the run and post its journal entry, in one transaction."""
    run = await get_run(session, tenant_id, run_id)
    locked = cast(
        CursorResult[Any],
        await session.execute(
            update(PayrollRun)
            .where(
                PayrollRun.tenant_id == tenant_id,
                PayrollRun.id == run_id,
                PayrollRun.status == "DRAFT",
            )
            .values(status="APPROVED", approved_at=now)
        ),
    )
    if locked.rowcount != 1:  # already approved (maybe by a concurrent request)
        raise PayrollRunLocked
    if run.total_gross == 0:
        # Nothing to record (everyone in the run earns 0): an entry would have no amounts.
        await session.refresh(run)
        return run
    cur = run.currency
    lines = [books.Line(books.SALARY_EXPENSE, debit=run.total_gross)]
    for code, amount in (
        (books.INCOME_TAX_PAYABLE, run.total_income_tax),
        (books.PENSION_PAYABLE, run.total_pension),
        (books.NET_PAY_PAYABLE, run.total_net),
    ):
        if amount > 0:
            lines.append(books.Line(code, credit=amount))
    entry = await books.post_entry(
        session,
        tenant_id,
        entry_date=now.date(),
        description=f"Payroll {run.period_year}-{run.period_month:02d} ({cur})",
        currency=cur,
        lines=lines,
        source="PAYROLL",
        source_ref=run.id,
        now=now,
    )
    await session.execute(
        update(PayrollRun)
        .where(PayrollRun.tenant_id == tenant_id, PayrollRun.id == run_id)
        .values(journal_entry_id=entry.id)
    )
    await session.refresh(run)
    return run


async def delete_run(session: AsyncSession, tenant_id: str, run_id: str) -> None:
    run = await get_run(session, tenant_id, run_id)
    if run.status != "DRAFT":
        raise PayrollRunLocked
    # Children first, explicitly: the ORM does not know the payslip → run dependency.
    await session.execute(
        delete(Payslip).where(Payslip.tenant_id == tenant_id, Payslip.run_id == run_id)
    )
    gone = cast(
        CursorResult[Any],
        await session.execute(
            delete(PayrollRun).where(
                PayrollRun.tenant_id == tenant_id,
                PayrollRun.id == run.id,
                PayrollRun.status == "DRAFT",
            )
        ),
    )
    if gone.rowcount != 1:  # approved concurrently: roll the payslip deletion back
        raise PayrollRunLocked


async def list_payslips(
    session: AsyncSession, tenant_id: str, params: PageParams, run_id: str | None
) -> tuple[list[Payslip], int]:
    where: list[Any] = []
    if run_id:
        where.append(Payslip.run_id == run_id)
    if params.q:
        where.append(contains_text(Payslip.employee_name, params.q))
    return await paged(session, Payslip, tenant_id, params, *where)


async def get_payslip(session: AsyncSession, tenant_id: str, payslip_id: str) -> Payslip:
    return await get_owned(session, Payslip, tenant_id, payslip_id, PayslipNotFound)


# ---------------------------------------------------------------- views for other products


@dataclass(frozen=True, slots=True)
class Transfer:
    payslip_id: str
    employee_name: str
    net: Decimal
    currency: str
    account_number: str | None
    bank_code: str | None


@dataclass(frozen=True, slots=True)
class DisbursableRun:
    id: str
    currency: str
    period: str
    transfers: list[Transfer]


async def disbursable_run(session: AsyncSession, tenant_id: str, run_id: str) -> DisbursableRun:
    """An approved run's net pay per payslip, for Pay."""
    run = await get_run(session, tenant_id, run_id)
    if run.status != "APPROVED":
        raise PayrollRunNotApproved
    return DisbursableRun(
        id=run.id,
        currency=run.currency,
        period=f"{run.period_year}-{run.period_month:02d}",
        transfers=[
            Transfer(s.id, s.employee_name, s.net, s.currency, s.bank_account_number, s.bank_code)
            for s in await run_payslips(session, tenant_id, run_id)
        ],
    )


@dataclass(frozen=True, slots=True)
class PayslipDocument:
    payslip: PayslipOut
    period_month: int
    period_year: int
    pay_date: date
    run_status: str


async def payslip_document(
    session: AsyncSession, tenant_id: str, payslip_id: str
) -> PayslipDocument:
    slip = await get_payslip(session, tenant_id, payslip_id)
    run = await get_run(session, tenant_id, slip.run_id)
    return PayslipDocument(
        payslip_out(slip), run.period_month, run.period_year, run.pay_date, run.status
    )


# ---------------------------------------------------------------- wire shapes


def payslip_out(s: Payslip) -> PayslipOut:
    cur = s.currency
    return PayslipOut(
        id=s.id,
        run_id=s.run_id,
        employee_id=s.employee_id,
        employee_code=s.employee_code,
        employee_name=s.employee_name,
        country_code=s.country_code,
        currency=cur,
        gross=money.fmt(s.gross, cur),
        deductions=[
            Deduction(code="INCOME_TAX", name="Income tax", amount=money.fmt(s.income_tax, cur)),
            Deduction(code="PENSION", name="Pension", amount=money.fmt(s.pension, cur)),
        ],
        total_deductions=money.fmt(s.income_tax + s.pension, cur),
        net=money.fmt(s.net, cur),
        bank_account=(
            BankAccountOut(account_number=s.bank_account_number, bank_code=s.bank_code)
            if s.bank_account_number and s.bank_code
            else None
        ),
        rules_source=s.rules_source,
        created_at=s.created_at,
    )


def run_out(run: PayrollRun, payslips: list[Payslip] | None = None) -> RunOut:
    cur = run.currency
    return RunOut(
        id=run.id,
        period_month=run.period_month,
        period_year=run.period_year,
        pay_date=run.pay_date,
        currency=cur,
        status=run.status,
        employee_count=run.employee_count,
        totals=RunTotals(
            gross=money.fmt(run.total_gross, cur),
            income_tax=money.fmt(run.total_income_tax, cur),
            pension=money.fmt(run.total_pension, cur),
            net=money.fmt(run.total_net, cur),
        ),
        journal_entry_id=run.journal_entry_id,
        approved_at=run.approved_at,
        created_at=run.created_at,
        payslips=None if payslips is None else [payslip_out(s) for s in payslips],
    )
