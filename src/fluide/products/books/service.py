"""Books service: the ledger. Other products post through ``post_entry`` (never our tables)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from fluide.kit import money
from fluide.kit.errors import AppError, Conflict, NotFound, ValidationFailed
from fluide.kit.idempotency import insert_ignore
from fluide.kit.ids import new_id
from fluide.kit.pagination import PageParams
from fluide.kit.queries import contains_text, get_owned, paged
from fluide.products.books.models import JournalEntry, JournalLine, LedgerAccount
from fluide.products.books.schemas import (
    AccountCreate,
    BooksAccount,
    JournalEntryCreate,
    JournalEntryOut,
    LineOut,
    TrialBalanceLine,
    TrialBalanceOut,
    TrialBalanceTotal,
)

# The seeded chart of accounts. Other products post to these codes.
BANK = "1000"
WALLET = "1100"
PAYOUTS_IN_TRANSIT = "1150"
NET_PAY_PAYABLE = "2100"
INCOME_TAX_PAYABLE = "2200"
PENSION_PAYABLE = "2300"
OWNER_EQUITY = "3000"
REVENUE = "4000"
SALARY_EXPENSE = "6000"
OTHER_PAYOUTS_EXPENSE = "6800"

DEFAULT_CHART: tuple[tuple[str, str, str], ...] = (
    (BANK, "Cash at bank", "ASSET"),
    (WALLET, "Pay wallet", "ASSET"),
    (PAYOUTS_IN_TRANSIT, "Payouts in transit", "ASSET"),
    (NET_PAY_PAYABLE, "Net pay payable", "LIABILITY"),
    (INCOME_TAX_PAYABLE, "Income tax payable", "LIABILITY"),
    (PENSION_PAYABLE, "Pension payable", "LIABILITY"),
    (OWNER_EQUITY, "Owner's equity", "EQUITY"),
    (REVENUE, "Revenue", "INCOME"),
    (SALARY_EXPENSE, "Salary expense", "EXPENSE"),
    (OTHER_PAYOUTS_EXPENSE, "Other payouts expense", "EXPENSE"),
)


class JournalEntryNotBalanced(AppError):
    status, code, message = 400, "JOURNAL_ENTRY_NOT_BALANCED", "Debits and credits differ"


class JournalEntryNotFound(NotFound):
    code, message = "JOURNAL_ENTRY_NOT_FOUND", "Journal entry not found"


class JournalEntryAlreadyVoided(Conflict):
    code, message = "JOURNAL_ENTRY_ALREADY_VOIDED", "This entry is already voided or is a reversal"


class AccountCodeTaken(Conflict):
    code, message = "ACCOUNT_CODE_TAKEN", "An account with this code already exists"


class AccountNotFound(AppError):
    status, code, message = 400, "ACCOUNT_NOT_FOUND", "Unknown account code"


@dataclass(frozen=True, slots=True)
class Line:
    account_code: str
    debit: Decimal = Decimal(0)
    credit: Decimal = Decimal(0)


async def ensure_chart(session: AsyncSession, tenant_id: str, now: datetime) -> None:
    """Seed the default chart once per tenant (race-safe: insert-or-ignore per account)."""
    have = await session.scalar(
        select(func.count()).select_from(LedgerAccount).where(LedgerAccount.tenant_id == tenant_id)
    )
    if have:
        return
    for code, name, kind in DEFAULT_CHART:
        await insert_ignore(
            session,
            LedgerAccount,
            {
                "id": new_id("acct"),
                "tenant_id": tenant_id,
                "code": code,
                "name": name,
                "type": kind,
                "created_at": now,
            },
        )


def account_out(a: LedgerAccount) -> BooksAccount:
    return BooksAccount(id=a.id, code=a.code, name=a.name, type=a.type, created_at=a.created_at)


async def list_accounts(
    session: AsyncSession, tenant_id: str, params: PageParams, now: datetime
) -> tuple[list[LedgerAccount], int]:
    await ensure_chart(session, tenant_id, now)
    where: list[Any] = []
    if params.q:
        where.append(
            contains_text(LedgerAccount.name, params.q)
            | contains_text(LedgerAccount.code, params.q)
        )
    return await paged(
        session, LedgerAccount, tenant_id, params, *where, order_by=[LedgerAccount.code]
    )


async def create_account(
    session: AsyncSession, tenant_id: str, data: AccountCreate, now: datetime
) -> LedgerAccount:
    await ensure_chart(session, tenant_id, now)
    account_id = new_id("acct")
    values = {
        "id": account_id,
        "tenant_id": tenant_id,
        "code": data.code,
        "name": data.name,
        "type": data.type,
        "created_at": now,
    }
    if not await insert_ignore(session, LedgerAccount, values):
        raise AccountCodeTaken
    account = await session.get(LedgerAccount, account_id)
    assert account is not None
    return account


def _check_lines(lines: list[Line], currency: str) -> list[Line]:
    rounded = [
        Line(
            ln.account_code,
            money.round_money(ln.debit, currency),
            money.round_money(ln.credit, currency),
        )
        for ln in lines
    ]
    errors: dict[str, list[str]] = {}
    for i, ln in enumerate(rounded):
        if ln.debit < 0 or ln.credit < 0 or (ln.debit > 0) == (ln.credit > 0):
            errors[f"lines.{i}"] = ["exactly one of debit or credit must be a positive amount"]
    if len(rounded) < 2:
        errors["lines"] = ["an entry needs at least two lines"]
    if errors:
        raise ValidationFailed(errors=errors)
    debit = sum((ln.debit for ln in rounded), Decimal(0))
    credit = sum((ln.credit for ln in rounded), Decimal(0))
    if debit != credit:
        raise JournalEntryNotBalanced(
            f"Debits ({money.fmt(debit, currency)}) and credits "
            f"({money.fmt(credit, currency)}) differ"
        )
    return rounded


async def post_entry(
    session: AsyncSession,
    tenant_id: str,
    *,
    entry_date: date,
    description: str,
    currency: str,
    lines: list[Line],
    source: str,
    source_ref: str | None,
    now: datetime,
    reverses_id: str | None = None,
) -> JournalEntry:
    """Validate and post one balanced entry (in the caller's transaction)."""
    if not money.is_currency(currency):
        raise ValidationFailed(errors={"currency": [f"unsupported currency {currency}"]})
    checked = _check_lines(lines, currency)
    await ensure_chart(session, tenant_id, now)
    codes = {ln.account_code for ln in checked}
    known = set(
        await session.scalars(
            select(LedgerAccount.code).where(
                LedgerAccount.tenant_id == tenant_id, LedgerAccount.code.in_(codes)
            )
        )
    )
    if unknown := sorted(codes - known):
        raise AccountNotFound(f"Unknown account code(s): {', '.join(unknown)}")
    entry = JournalEntry(
        id=new_id("je"),
        tenant_id=tenant_id,
        entry_date=entry_date,
        description=description,
        currency=currency,
        status="POSTED",
        source=source,
        source_ref=source_ref,
        reverses_id=reverses_id,
        voided_by_id=None,
        created_at=now,
    )
    entry.lines = [
        JournalLine(
            tenant_id=tenant_id,
            line_no=i,
            account_code=ln.account_code,
            debit=ln.debit,
            credit=ln.credit,
        )
        for i, ln in enumerate(checked)
    ]
    session.add(entry)
    await session.flush()
    return entry


async def create_manual_entry(
    session: AsyncSession, tenant_id: str, data: JournalEntryCreate, now: datetime
) -> JournalEntry:
    cur = data.currency
    if not money.is_currency(cur):
        raise ValidationFailed(errors={"currency": [f"unsupported currency {cur}"]})
    lines = [
        Line(ln.account_code, money.parse(ln.debit, cur), money.parse(ln.credit, cur))
        for ln in data.lines
    ]
    return await post_entry(
        session,
        tenant_id,
        entry_date=data.date,
        description=data.description,
        currency=cur,
        lines=lines,
        source="MANUAL",
        source_ref=None,
        now=now,
    )


async def get_entry(session: AsyncSession, tenant_id: str, entry_id: str) -> JournalEntry:
    return await get_owned(session, JournalEntry, tenant_id, entry_id, JournalEntryNotFound)


async def list_entries(
    session: AsyncSession, tenant_id: str, params: PageParams, source: str | None
) -> tuple[list[JournalEntry], int]:
    where: list[Any] = []
    if source:
        where.append(JournalEntry.source == source)
    if params.q:
        where.append(contains_text(JournalEntry.description, params.q))
    return await paged(session, JournalEntry, tenant_id, params, *where)


async def void_entry(
    session: AsyncSession, tenant_id: str, entry_id: str, now: datetime
) -> JournalEntry:
    """Post the reversing entry and mark the original VOIDED (nothing is deleted)."""
    original = await get_entry(session, tenant_id, entry_id)
    if original.status != "POSTED" or original.reverses_id is not None:
        raise JournalEntryAlreadyVoided
    reversal = await post_entry(
        session,
        tenant_id,
        entry_date=now.date(),
        description=f"Void of {original.id}: {original.description}"[:500],
        currency=original.currency,
        lines=[Line(ln.account_code, ln.credit, ln.debit) for ln in original.lines],
        source="VOID",
        source_ref=original.id,
        now=now,
        reverses_id=original.id,
    )
    marked = cast(
        CursorResult[Any],
        await session.execute(
            update(JournalEntry)
            .where(
                JournalEntry.tenant_id == tenant_id,
                JournalEntry.id == original.id,
                JournalEntry.status == "POSTED",
            )
            .values(status="VOIDED", voided_by_id=reversal.id)
        ),
    )
    if marked.rowcount != 1:  # a concurrent void won
        raise JournalEntryAlreadyVoided
    return reversal


def entry_out(e: JournalEntry) -> JournalEntryOut:
    cur = e.currency
    return JournalEntryOut(
        id=e.id,
        date=e.entry_date,
        description=e.description,
        currency=cur,
        status=e.status,
        source=e.source,
        source_ref=e.source_ref,
        reverses_id=e.reverses_id,
        voided_by_id=e.voided_by_id,
        lines=[
            LineOut(
                account_code=ln.account_code,
                debit=money.fmt(ln.debit, cur),
                credit=money.fmt(ln.credit, cur),
            )
            for ln in e.lines
        ],
        total_debit=money.fmt(money.total([ln.debit for ln in e.lines], cur), cur),
        total_credit=money.fmt(money.total([ln.credit for ln in e.lines], cur), cur),
        created_at=e.created_at,
    )


async def trial_balance(
    session: AsyncSession, tenant_id: str, as_of: date, currency: str | None, now: datetime
) -> TrialBalanceOut:
    await ensure_chart(session, tenant_id, now)
    where: list[Any] = [JournalEntry.tenant_id == tenant_id, JournalEntry.entry_date <= as_of]
    if currency:
        where.append(JournalEntry.currency == currency)
    rows = await session.execute(
        select(
            JournalLine.account_code,
            JournalEntry.currency,
            money.money_sum(JournalLine.debit),
            money.money_sum(JournalLine.credit),
        )
        .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        .where(JournalLine.tenant_id == tenant_id, *where)
        .group_by(JournalLine.account_code, JournalEntry.currency)
        .order_by(JournalEntry.currency, JournalLine.account_code)
    )
    accounts = {
        a.code: a
        for a in await session.scalars(
            select(LedgerAccount).where(LedgerAccount.tenant_id == tenant_id)
        )
    }
    lines: list[TrialBalanceLine] = []
    sums: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for code, cur, debit, credit in rows:
        d, c = Decimal(debit or 0), Decimal(credit or 0)
        acct = accounts.get(code)
        lines.append(
            TrialBalanceLine(
                account_code=code,
                account_name=acct.name if acct else code,
                account_type=(acct.type if acct else "ASSET"),
                currency=cur,
                debit=money.fmt(d, cur),
                credit=money.fmt(c, cur),
                balance=money.fmt(d - c, cur),
            )
        )
        sums[cur][0] += d
        sums[cur][1] += c
    totals = [
        TrialBalanceTotal(
            currency=cur,
            debit=money.fmt(d, cur),
            credit=money.fmt(c, cur),
            balanced=money.round_money(d, cur) == money.round_money(c, cur),
        )
        for cur, (d, c) in sorted(sums.items())
    ]
    return TrialBalanceOut(
        as_of=as_of, lines=lines, totals=totals, balanced=all(t.balanced for t in totals)
    )
