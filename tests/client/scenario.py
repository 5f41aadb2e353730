"""One walk through every resource method, written once for both clients.

``walk(fluide)`` takes a ``FluideClient`` or an ``AsyncFluideClient``: ``done`` awaits what the
async client returns and passes the sync client's results through, ``every`` drains a page or
a pager. The sync walk runs against the real app on a socket, the async one over ASGI
(``test_resources.py``), so both executors run the same described calls.
"""

from __future__ import annotations

import inspect
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

import pytest

from fluide.client import (
    AsyncFluideClient,
    AsyncPage,
    AsyncPager,
    ConflictError,
    FluideClient,
    NotFoundError,
    SyncPage,
)
from fluide.client.models import (
    BankAccount,
    Employee,
    JournalLineInput,
    LedgerAccount,
    PayrollRun,
    Recipient,
)

T = TypeVar("T")
Client = FluideClient | AsyncFluideClient


async def done(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def every(pages: Any) -> list[Any]:
    if isinstance(pages, AsyncPager | AsyncPage):
        return [item async for item in pages]
    assert isinstance(pages, SyncPage)
    return list(pages)


async def pages_of(pages: Any) -> list[Any]:
    if isinstance(pages, AsyncPager):
        return [page async for page in pages.iter_pages()]
    return list(pages.iter_pages())


async def walk(fluide: Client) -> dict[str, Any]:
    """Every operation once (most more than once); returns what later checks need."""
    for product in (fluide.hr, fluide.payroll, fluide.pay, fluide.books, fluide.utils):
        health = await done(product.health())
        assert health.status == "ok" and health.checks == {"database": "up"}
    employees = await _employees(fluide)
    run = await _payroll(fluide, employees)
    await _pay(fluide, run)
    await _books(fluide)
    await _utils(fluide, run)
    await _authorize(fluide)
    return {"employees": employees, "run": run}


async def _employees(fluide: Client) -> list[Employee]:
    hr = fluide.hr.employees
    made: list[Employee] = []
    banks: list[Any] = [
        {"account_number": "0123456789", "bank_code": "058"},  # snake_case dict
        {"accountNumber": "0123456780", "bankCode": "058"},  # wire (camelCase) dict
        BankAccount(account_number="0123456781", bank_code="058"),  # a model
        {"account_number": "0123456782", "bank_code": "058"},
        {"account_number": "0123456783", "bank_code": "058"},
    ]
    for i, bank in enumerate(banks):
        made.append(
            await done(
                hr.create(
                    employee_code=f"EMP-{i:03d}",
                    first_name=f"Ada{i}",
                    last_name="Okafor",
                    email=f"ada{i}@example.com",
                    department="Engineering",
                    salary=Decimal("1200000.50") + i,
                    currency="NGN",
                    hire_date=date(2026, 2, 1),
                    country_code="NG",
                    bank_account=bank,
                )
            )
        )
    first = made[0]
    assert isinstance(first, Employee)
    assert first.salary == Decimal("1200000.50") and isinstance(first.salary, Decimal)
    assert first.hire_date == date(2026, 2, 1) and isinstance(first.created_at, datetime)
    assert made[1].bank_account == BankAccount(account_number="0123456780", bank_code="058")
    with pytest.raises(ConflictError):
        await done(hr.create(**_same_code(first)))

    page = await done(hr.list(limit=2))
    assert page.total == 5 and len(page.items) == 2 and page.limit == 2
    assert [len(p.items) for p in await pages_of(hr.list(limit=2))] == [2, 2, 1]
    assert sorted(e.id for e in await every(hr.list(limit=2))) == sorted(e.id for e in made)
    assert [e.id for e in await every(hr.list(q="ada3"))] == [made[3].id]

    got = await done(hr.get(first.id))
    assert got == first
    with pytest.raises(NotFoundError):
        await done(hr.get("emp_does_not_exist"))

    # Only what is passed changes; None clears a field that may be empty.
    changed = await done(hr.update(first.id, designation="Lead", salary="1300000"))
    assert changed.designation == "Lead" and changed.department == "Engineering"
    assert changed.salary == Decimal("1300000.00")
    cleared = await done(hr.update(first.id, department=None))
    assert cleared.department is None and cleared.designation == "Lead"

    gone = await done(hr.delete(made[4].id))
    assert gone.status == "TERMINATED"
    active = await every(hr.list(status="ACTIVE"))
    assert {e.id for e in active} == {e.id for e in made[:4]}
    return made[:4]


def _same_code(employee: Employee) -> dict[str, Any]:
    return {
        "employee_code": employee.employee_code,
        "first_name": "Other",
        "last_name": "Person",
        "email": "other@example.com",
        "salary": "1.00",
        "currency": "NGN",
        "hire_date": "2026-02-01",
        "country_code": "NG",
    }


async def _payroll(fluide: Client, employees: list[Employee]) -> PayrollRun:
    payroll = fluide.payroll
    settings = await done(payroll.settings.get())
    assert settings.origin == "DEFAULT" and settings.rules
    assert isinstance(settings.rules[0].pension_rate, Decimal)
    # The models round-trip: what was read can be sent back as it is.
    mine = await done(payroll.settings.update(rules=settings.rules))
    assert mine.origin == "TENANT" and mine.rules == settings.rules
    assert isinstance(mine.updated_at, datetime)

    run = await done(payroll.runs.create(period_month=11, period_year=2026, pay_date="2026-11-27"))
    assert run.status == "DRAFT" and run.employee_count == len(employees)
    assert run.pay_date == date(2026, 11, 27) and isinstance(run.totals.net, Decimal)
    assert run.payslips is not None and len(run.payslips) == len(employees)
    assert [r.id for r in await every(payroll.runs.list(status="DRAFT"))] == [run.id]
    assert (await done(payroll.runs.get(run.id))).payslips == run.payslips

    slips = await every(payroll.payslips.list(run_id=run.id, limit=3))
    assert sorted(s.id for s in slips) == sorted(s.id for s in run.payslips)
    slip = await done(payroll.payslips.get(slips[0].id))
    assert slip == slips[0] and slip.gross - slip.total_deductions == slip.net

    spare = await done(
        payroll.runs.create(
            period_month=10,
            period_year=2026,
            pay_date=date(2026, 10, 30),
            employee_ids=[employees[0].id],
        )
    )
    assert spare.employee_count == 1
    assert await done(payroll.runs.delete(spare.id)) is None
    with pytest.raises(NotFoundError):
        await done(payroll.runs.get(spare.id))

    approved = await done(payroll.runs.approve(run.id))
    assert approved.status == "APPROVED" and approved.journal_entry_id
    assert isinstance(approved.approved_at, datetime)
    return approved


async def _pay(fluide: Client, run: PayrollRun) -> None:
    pay = fluide.pay
    wallet = await done(pay.wallets.fund("NGN", amount=Decimal("50000000.00"), reference="top-up"))
    assert wallet.currency == "NGN" and wallet.balance == Decimal("50000000.00")
    assert [w.currency for w in await every(pay.wallets.list())] == ["NGN"]

    payout = await done(
        pay.payouts.create(
            amount="1500.00",
            currency="NGN",
            recipient=Recipient(name="Chinedu Eze", account_number="0123456789", bank_code="058"),
            reference="Invoice INV-1",
        )
    )
    assert payout.amount == Decimal("1500.00") and payout.recipient.name == "Chinedu Eze"
    assert (await done(pay.payouts.get(payout.id))).id == payout.id

    paid = await done(pay.payroll_runs.disburse(run.id))
    assert paid.run_id == run.id and paid.payout_count == run.employee_count
    assert paid.total == run.totals.net and len(paid.payouts) == paid.payout_count
    of_run = await every(pay.payouts.list(run_id=run.id, limit=2))
    assert sorted(p.id for p in of_run) == sorted(p.id for p in paid.payouts)
    assert len(await every(pay.payouts.list())) == paid.payout_count + 1


async def _books(fluide: Client) -> None:
    books = fluide.books
    chart = await every(books.accounts.list(limit=5))
    assert chart and all(isinstance(a, LedgerAccount) for a in chart)
    codes = [a.code for a in chart]
    assert codes == sorted(codes)
    rent = await done(books.accounts.create(code="6100", name="Office rent", type="EXPENSE"))
    assert rent.code == "6100" and rent.type == "EXPENSE"

    entry = await done(
        books.journal_entries.create(
            date=date(2026, 11, 27),
            description="Owner's capital injection",
            currency="NGN",
            lines=[
                {"account_code": "1000", "debit": Decimal("250000.00")},
                JournalLineInput(account_code="3000", credit="250000.00"),
            ],
        )
    )
    assert entry.total_debit == entry.total_credit == Decimal("250000.00")
    assert entry.lines[0].credit == Decimal(0) and entry.date == date(2026, 11, 27)
    assert await done(books.journal_entries.get(entry.id)) == entry
    manual = await every(books.journal_entries.list(q="capital"))
    assert [e.id for e in manual] == [entry.id]

    reversal = await done(books.journal_entries.void(entry.id))
    assert reversal.reverses_id == entry.id
    assert (await done(books.journal_entries.get(entry.id))).status == "VOIDED"

    balance = await done(books.trial_balance(as_of=date(2100, 1, 1), currency="NGN"))
    assert balance.balanced and balance.as_of == date(2100, 1, 1)
    assert all(t.debit == t.credit for t in balance.totals)


async def _utils(fluide: Client, run: PayrollRun) -> None:
    utils = fluide.utils
    countries = {c.code: c for c in await every(utils.countries(limit=3))}
    assert countries["NG"].currency == "NGN" and countries["NG"].statutory_rules is True
    currencies = {c.code: c for c in await every(utils.currencies())}
    assert currencies["JPY"].minor_units == 0 and currencies["NGN"].minor_units == 2
    assert run.payslips
    pdf = await done(utils.payslip_pdf(run.payslips[0].id))
    assert isinstance(pdf, bytes) and pdf.startswith(b"%PDF")


async def _authorize(fluide: Client) -> None:
    auth = fluide.authorize
    current = await done(auth.current())
    assert current.api_key == fluide.api_key and "hr:read" in current.scopes
    assert "api_secret" not in current.model_dump() and "apiSecret" not in str(current)
    token = await done(fluide.token())
    context = await done(auth.auth_context())
    assert context.jti == token.jti and context.status == "active"
    assert await done(auth.auth_context(token.jti)) == context

    rotation = await done(auth.rotate_secret(grace_seconds=3600))
    assert rotation.api_key == fluide.api_key and isinstance(rotation.rotated_at, datetime)
    assert rotation.api_secret not in repr(rotation)
    assert (await done(fluide.hr.health())).status == "ok"  # the old token lives on (grace)

    assert await done(auth.revoke()) is None
    assert fluide.auth.cached_token is None
    revoked = await done(auth.auth_context(token.jti))
    assert revoked.status == "revoked"  # asked with a fresh token, exchanged with the new secret
