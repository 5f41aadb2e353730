"""The sandbox rail and the settlement worker.

State machine: PENDING → PROCESSING → SUCCEEDED | FAILED. Each transition is its own
transaction, and a final transition carries its ledger posting (and, on failure, the wallet
refund) in that same transaction, guarded by ``WHERE status = 'PROCESSING'``: however many
workers race, and whatever crashes between steps, a payout is settled and posted once.

Claiming uses ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL (several processes share the
queue); SQLite serialises writers already (``BEGIN IMMEDIATE``). A payout left PROCESSING by a
crashed worker is claimed again after the lease (``FLUIDE_SETTLEMENT_LEASE_SECONDS``, 60 s); a
real rail would receive the payout id as its own idempotency key so a re-sent instruction pays
once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import and_, or_, select, update
from sqlalchemy.engine import CursorResult

from fluide.kit.infra import Infrastructure
from fluide.kit.tasks import stop_gracefully
from fluide.products.books import service as books
from fluide.products.pay.models import Payout, Wallet

log = logging.getLogger("fluide.pay.settlement")
LEASE = timedelta(seconds=60)
FAILING_SUFFIX = "0000"


class SettlementSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLUIDE_", extra="ignore")

    settlement_worker: bool = True
    settlement_poll_seconds: float = 0.5
    settlement_batch: int = 50
    # A payout left PROCESSING (its worker died mid-settlement) is claimed again after this.
    settlement_lease_seconds: float = Field(default=LEASE.total_seconds(), gt=0)


@dataclass(frozen=True, slots=True)
class RailResult:
    ok: bool
    reason: str | None = None


async def sandbox_rail(payout_id: str, account_number: str) -> RailResult:
    """Deterministic: an account number ending in 0000 is rejected, everything else is paid."""
    await asyncio.sleep(0)
    if account_number.endswith(FAILING_SUFFIX):
        return RailResult(False, "SANDBOX_ACCOUNT_REJECTED: the beneficiary bank rejected it")
    return RailResult(True)


async def claim(infra: Infrastructure, batch: int = 50, lease: timedelta = LEASE) -> list[str]:
    """PENDING (or PROCESSING past its lease) → PROCESSING, for up to ``batch`` payouts."""
    now = infra.clock()
    async with infra.sessionmaker() as session, session.begin():
        query = (
            select(Payout.id)
            .where(
                or_(
                    Payout.status == "PENDING",
                    and_(Payout.status == "PROCESSING", Payout.claimed_at < now - lease),
                )
            )
            .order_by(Payout.created_at, Payout.id)
            .limit(batch)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        ids = list(await session.scalars(query))
        if ids:
            await session.execute(
                update(Payout)
                .where(Payout.id.in_(ids))
                .values(
                    status="PROCESSING",
                    claimed_at=now,
                    attempts=Payout.attempts + 1,
                    updated_at=now,
                )
            )
    return ids


async def settle(infra: Infrastructure, payout_id: str) -> str | None:
    """Send one PROCESSING payout to the rail and record the outcome; None if not ours."""
    async with infra.sessionmaker() as session:
        payout = await session.get(Payout, payout_id)
        if payout is None or payout.status != "PROCESSING":
            return None
        result = await sandbox_rail(payout.id, payout.account_number)
    now = infra.clock()
    final = "SUCCEEDED" if result.ok else "FAILED"
    async with infra.sessionmaker() as session, session.begin():
        moved = cast(
            CursorResult[Any],
            await session.execute(
                update(Payout)
                .where(Payout.id == payout.id, Payout.status == "PROCESSING")
                .values(status=final, failure_reason=result.reason, settled_at=now, updated_at=now)
            ),
        )
        if moved.rowcount != 1:  # another worker settled it first
            return None
        if result.ok:
            lines = [
                books.Line(payout.debit_account_code, debit=payout.amount),
                books.Line(books.PAYOUTS_IN_TRANSIT, credit=payout.amount),
            ]
            description = f"Payout {payout.id} settled"
        else:
            await session.execute(
                update(Wallet)
                .where(Wallet.tenant_id == payout.tenant_id, Wallet.currency == payout.currency)
                .values(balance=Wallet.balance + payout.amount, updated_at=now)
            )
            lines = [
                books.Line(books.WALLET, debit=payout.amount),
                books.Line(books.PAYOUTS_IN_TRANSIT, credit=payout.amount),
            ]
            description = f"Payout {payout.id} failed: refunded to wallet"
        await books.post_entry(
            session,
            payout.tenant_id,
            entry_date=now.date(),
            description=description,
            currency=payout.currency,
            lines=lines,
            source="PAY",
            source_ref=payout.id,
            now=now,
        )
    return final


async def settle_once(infra: Infrastructure, batch: int = 50, lease: timedelta = LEASE) -> int:
    """One pass: claim a batch and settle it. Returns how many payouts this pass claimed."""
    ids = await claim(infra, batch, lease)
    for payout_id in ids:
        await settle(infra, payout_id)
    return len(ids)


async def _loop(infra: Infrastructure, cfg: SettlementSettings, stopping: asyncio.Event) -> None:
    while not stopping.is_set():
        claimed = 0
        try:
            claimed = await settle_once(
                infra, cfg.settlement_batch, timedelta(seconds=cfg.settlement_lease_seconds)
            )
        except Exception as exc:  # keep settling through a database blip
            log.warning("settlement pass failed", extra={"error_type": type(exc).__name__})
        if claimed == 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), cfg.settlement_poll_seconds)


def start(infra: Infrastructure, cfg: SettlementSettings | None = None) -> None:
    """Start the worker task with the app; it stops on the infrastructure's stop hooks.

    Stopping lets the current pass finish (a pass is a few short transactions) rather than
    cancelling it inside a transaction; it is cancelled only if it does not end in time.
    """
    cfg = cfg or SettlementSettings()
    if not cfg.settlement_worker:
        return
    stopping = asyncio.Event()
    task = asyncio.create_task(_loop(infra, cfg, stopping), name="fluide-settlement")

    async def stop() -> None:
        await stop_gracefully(task, stopping)

    infra.on_stop.append(stop)
