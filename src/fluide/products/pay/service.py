"""Pay service: wallet moves and their ledger postings happen in one transaction, always.

The wallet balance changes only through conditional ``UPDATE … SET balance = balance ± x``
statements (a debit also requires ``balance >= x``), so concurrent requests on SQLite and
PostgreSQL can never overdraw it, and every change posts the matching Books entry in the same
transaction: wallet balance = balance of ledger account 1100, always.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from fluide.kit import money
from fluide.kit.errors import AppError, Conflict, NotFound, ValidationFailed
from fluide.kit.idempotency import insert_ignore
from fluide.kit.ids import new_id
from fluide.kit.pagination import PageParams
from fluide.kit.queries import contains_text, get_owned, paged
from fluide.products.books import service as books
from fluide.products.pay.models import Payout, Wallet
from fluide.products.pay.schemas import (
    DisburseOut,
    FundIn,
    PayoutCreate,
    PayoutOut,
    Recipient,
    WalletOut,
)
from fluide.products.payroll import service as payroll


class WalletInsufficientBalance(AppError):
    status, code, message = 400, "WALLET_INSUFFICIENT_BALANCE", "Insufficient wallet balance"


class WalletBalanceLimitExceeded(AppError):
    status, code = 400, "WALLET_BALANCE_LIMIT_EXCEEDED"
    message = "This top-up would take the wallet past the largest balance it can hold"


class PayoutNotFound(NotFound):
    code, message = "PAYOUT_NOT_FOUND", "Payout not found"


class RunAlreadyDisbursed(Conflict):
    code, message = "PAYROLL_RUN_ALREADY_DISBURSED", "This payroll run was already disbursed"


class BankAccountMissing(AppError):
    status, code = 400, "PAYSLIP_BANK_ACCOUNT_MISSING"
    message = "A payslip of this run has no bank account to pay"


def _currency(code: str) -> str:
    if not money.is_currency(code):
        raise ValidationFailed(errors={"currency": [f"unsupported currency {code}"]})
    return code


async def ensure_wallet(
    session: AsyncSession, tenant_id: str, currency: str, now: datetime
) -> Wallet:
    await insert_ignore(
        session,
        Wallet,
        {
            "id": new_id("wal"),
            "tenant_id": tenant_id,
            "currency": currency,
            "balance": Decimal(0),
            "created_at": now,
            "updated_at": now,
        },
    )
    wallet = await session.scalar(
        select(Wallet)
        .where(Wallet.tenant_id == tenant_id, Wallet.currency == currency)
        .execution_options(populate_existing=True)
    )
    assert wallet is not None
    return wallet


async def _move(
    session: AsyncSession, tenant_id: str, currency: str, delta: Decimal, now: datetime
) -> None:
    """Add ``delta`` to the wallet; a debit that would overdraw (or a credit that would pass
    the storable limit) changes nothing and raises."""
    await ensure_wallet(session, tenant_id, currency, now)
    where = [Wallet.tenant_id == tenant_id, Wallet.currency == currency]
    if delta < 0:
        where.append(Wallet.balance >= -delta)
    else:
        room = money.STORAGE_LIMIT - delta - await _in_transit(session, tenant_id, currency)
        if room <= 0:
            raise WalletBalanceLimitExceeded
        where.append(Wallet.balance < room)
    result = cast(
        CursorResult[Any],
        await session.execute(
            update(Wallet).where(*where).values(balance=Wallet.balance + delta, updated_at=now)
        ),
    )
    if result.rowcount != 1:
        raise WalletInsufficientBalance if delta < 0 else WalletBalanceLimitExceeded


async def _in_transit(session: AsyncSession, tenant_id: str, currency: str) -> Decimal:
    """What open payouts of this wallet may still refund to it, read under the wallet's lock.

    A top-up keeps balance + in transit below the storable limit, so the refund of a failed
    payout (``settlement.settle``, which cannot refuse) always fits the column. The lock
    (PostgreSQL; SQLite's writers are serialised already) makes this read see every payout
    whose debit of the wallet committed before it, and makes later debits wait for us.
    """
    await session.execute(
        select(Wallet.id)
        .where(Wallet.tenant_id == tenant_id, Wallet.currency == currency)
        .with_for_update()
    )
    pending = await session.scalar(
        select(money.money_sum(Payout.amount)).where(
            Payout.tenant_id == tenant_id,
            Payout.currency == currency,
            Payout.status.in_(("PENDING", "PROCESSING")),
        )
    )
    return pending or Decimal(0)


async def list_wallets(session: AsyncSession, tenant_id: str) -> list[Wallet]:
    return list(
        await session.scalars(
            select(Wallet).where(Wallet.tenant_id == tenant_id).order_by(Wallet.currency)
        )
    )


async def fund(
    session: AsyncSession, tenant_id: str, currency: str, data: FundIn, now: datetime
) -> Wallet:
    """Sandbox top-up: Dr wallet, Cr owner's equity."""
    currency = _currency(currency)
    amount = money.parse(data.amount, currency)
    if amount <= 0:
        raise ValidationFailed(errors={"amount": ["must be positive"]})
    await _move(session, tenant_id, currency, amount, now)
    await books.post_entry(
        session,
        tenant_id,
        entry_date=now.date(),
        description=f"Wallet funding {data.reference or ''}".strip()[:500],
        currency=currency,
        lines=[
            books.Line(books.WALLET, debit=amount),
            books.Line(books.OWNER_EQUITY, credit=amount),
        ],
        source="PAY",
        source_ref=None,
        now=now,
    )
    return await ensure_wallet(session, tenant_id, currency, now)


async def create_payout(
    session: AsyncSession, tenant_id: str, data: PayoutCreate, now: datetime
) -> Payout:
    currency = _currency(data.currency)
    amount = money.parse(data.amount, currency)
    if amount <= 0:
        raise ValidationFailed(errors={"amount": ["must be positive"]})
    await _move(session, tenant_id, currency, -amount, now)
    payout = _new_payout(
        tenant_id,
        currency,
        amount,
        data.recipient,
        data.reference,
        books.OTHER_PAYOUTS_EXPENSE,
        now,
    )
    session.add(payout)
    await _post_in_transit(session, tenant_id, currency, amount, f"Payout {payout.id}", now)
    await session.flush()
    return payout


def _new_payout(
    tenant_id: str,
    currency: str,
    amount: Decimal,
    recipient: Recipient,
    reference: str,
    debit_account: str,
    now: datetime,
    run_id: str | None = None,
    payslip_id: str | None = None,
) -> Payout:
    return Payout(
        id=new_id("po"),
        tenant_id=tenant_id,
        currency=currency,
        amount=amount,
        recipient_name=recipient.name,
        account_number=recipient.account_number,
        bank_code=recipient.bank_code,
        reference=reference,
        status="PENDING",
        failure_reason=None,
        payroll_run_id=run_id,
        payslip_id=payslip_id,
        debit_account_code=debit_account,
        attempts=0,
        claimed_at=None,
        settled_at=None,
        created_at=now,
        updated_at=now,
    )


async def _post_in_transit(
    session: AsyncSession,
    tenant_id: str,
    currency: str,
    amount: Decimal,
    description: str,
    now: datetime,
    source_ref: str | None = None,
) -> None:
    await books.post_entry(
        session,
        tenant_id,
        entry_date=now.date(),
        description=description,
        currency=currency,
        lines=[
            books.Line(books.PAYOUTS_IN_TRANSIT, debit=amount),
            books.Line(books.WALLET, credit=amount),
        ],
        source="PAY",
        source_ref=source_ref,
        now=now,
    )


async def disburse(
    session: AsyncSession, tenant_id: str, run_id: str, now: datetime
) -> DisburseOut:
    """One payout per payslip of an approved run; all or nothing."""
    run = await payroll.disbursable_run(session, tenant_id, run_id)
    already = await session.scalar(
        select(func.count())
        .select_from(Payout)
        .where(Payout.tenant_id == tenant_id, Payout.payroll_run_id == run.id)
    )
    if already:
        raise RunAlreadyDisbursed
    transfers = [t for t in run.transfers if t.net > 0]
    if missing := [t.payslip_id for t in transfers if not (t.account_number and t.bank_code)]:
        raise BankAccountMissing(f"Payslips without a bank account: {', '.join(missing)}")
    total = money.total([t.net for t in transfers], run.currency)
    if total > 0:
        await _move(session, tenant_id, run.currency, -total, now)
    payouts = []
    for t in transfers:
        assert t.account_number and t.bank_code
        payout = _new_payout(
            tenant_id,
            run.currency,
            t.net,
            Recipient(name=t.employee_name, account_number=t.account_number, bank_code=t.bank_code),
            f"Salary {run.period}",
            books.NET_PAY_PAYABLE,
            now,
            run_id=run.id,
            payslip_id=t.payslip_id,
        )
        session.add(payout)
        payouts.append(payout)
    try:
        await session.flush()
    except IntegrityError:  # a concurrent disburse (under another key) paid these payslips
        raise RunAlreadyDisbursed from None
    if total > 0:
        await _post_in_transit(
            session,
            tenant_id,
            run.currency,
            total,
            f"Salary disbursement {run.period}",
            now,
            run.id,
        )
    await session.flush()
    return DisburseOut(
        run_id=run.id,
        currency=run.currency,
        payout_count=len(payouts),
        total=money.fmt(total, run.currency),
        payouts=[payout_out(p) for p in payouts],
    )


async def get_payout(session: AsyncSession, tenant_id: str, payout_id: str) -> Payout:
    return await get_owned(session, Payout, tenant_id, payout_id, PayoutNotFound)


async def list_payouts(
    session: AsyncSession,
    tenant_id: str,
    params: PageParams,
    status: str | None,
    run_id: str | None,
) -> tuple[list[Payout], int]:
    where: list[Any] = []
    if status:
        where.append(Payout.status == status)
    if run_id:
        where.append(Payout.payroll_run_id == run_id)
    if params.q:
        where.append(
            contains_text(Payout.recipient_name, params.q)
            | contains_text(Payout.reference, params.q)
        )
    return await paged(session, Payout, tenant_id, params, *where)


def wallet_out(w: Wallet) -> WalletOut:
    return WalletOut(
        id=w.id,
        currency=w.currency,
        balance=money.fmt(w.balance, w.currency),
        created_at=w.created_at,
        updated_at=w.updated_at,
    )


def payout_out(p: Payout) -> PayoutOut:
    return PayoutOut(
        id=p.id,
        amount=money.fmt(p.amount, p.currency),
        currency=p.currency,
        recipient=Recipient(
            name=p.recipient_name, account_number=p.account_number, bank_code=p.bank_code
        ),
        reference=p.reference,
        status=p.status,
        failure_reason=p.failure_reason,
        payroll_run_id=p.payroll_run_id,
        payslip_id=p.payslip_id,
        attempts=p.attempts,
        created_at=p.created_at,
        updated_at=p.updated_at,
        settled_at=p.settled_at,
    )
