"""Pay routes. Money-moving POSTs take an `Idempotency-Key` header."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Path, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from fluide.apidocs import error_responses
from fluide.gateway import CurrentPrincipal, guarded_router, require_scope
from fluide.kit.errors import ValidationFailed
from fluide.kit.pagination import Page, PageDep
from fluide.kit.uow import DbSession, get_infra
from fluide.products.idempotent import IDEMPOTENCY_ERRORS, IdemHeader, run_idempotent
from fluide.products.pay import service
from fluide.products.pay.schemas import DisburseOut, FundIn, PayoutCreate, PayoutOut, WalletOut
from fluide.products.pay.service import (
    BankAccountMissing,
    PayoutNotFound,
    RunAlreadyDisbursed,
    WalletBalanceLimitExceeded,
    WalletInsufficientBalance,
)
from fluide.products.payroll.service import PayrollRunNotApproved, PayrollRunNotFound

router = guarded_router("pay")
READ = [require_scope("pay:read")]
WRITE = [require_scope("pay:write")]
# Disbursing answers with a payroll run's net pay per employee and bank account (and its errors
# tell whether a run exists and is approved): it also needs Payroll's read scope (DESIGN §4).
DISBURSE = [require_scope("pay:write", "payroll:read")]


@router.get(
    "/wallets", operation_id="pay.wallets.list", response_model=Page[WalletOut], dependencies=READ
)
async def list_wallets(
    principal: CurrentPrincipal, session: DbSession, params: PageDep
) -> Page[WalletOut]:
    """This tenant's wallets, one per currency."""
    rows = await service.list_wallets(session, principal.owner_id)
    items = [service.wallet_out(w) for w in rows]
    return Page.of(items[params.offset : params.offset + params.limit], len(items), params)


@router.post(
    "/wallets/{currency}/fund",
    operation_id="pay.wallets.fund",
    response_model=WalletOut,
    dependencies=WRITE,
    responses=error_responses(ValidationFailed, WalletBalanceLimitExceeded, *IDEMPOTENCY_ERRORS),
)
async def fund_wallet(
    body: FundIn,
    principal: CurrentPrincipal,
    request: Request,
    currency: str = Path(pattern=r"^[A-Z]{3}$", examples=["NGN"]),
    idempotency_key: str | None = IdemHeader,
) -> Response:
    """Sandbox: add money to the wallet of a currency (created on first use)."""
    rt = get_infra(request)

    async def work(session: AsyncSession) -> tuple[int, Any]:
        wallet = await service.fund(session, principal.owner_id, currency, body, rt.clock())
        return 200, service.wallet_out(wallet).model_dump(mode="json", by_alias=True)

    return await run_idempotent(
        request, principal.owner_id, idempotency_key, body.model_dump(mode="json"), work
    )


@router.post(
    "/payouts",
    operation_id="pay.payouts.create",
    status_code=201,
    response_model=PayoutOut,
    dependencies=WRITE,
    responses=error_responses(ValidationFailed, WalletInsufficientBalance, *IDEMPOTENCY_ERRORS),
)
async def create_payout(
    body: PayoutCreate,
    principal: CurrentPrincipal,
    request: Request,
    idempotency_key: str | None = IdemHeader,
) -> Response:
    """Debit the wallet and queue a payout for settlement."""
    rt = get_infra(request)

    async def work(session: AsyncSession) -> tuple[int, Any]:
        payout = await service.create_payout(session, principal.owner_id, body, rt.clock())
        return 201, service.payout_out(payout).model_dump(mode="json", by_alias=True)

    return await run_idempotent(
        request, principal.owner_id, idempotency_key, body.model_dump(mode="json"), work
    )


@router.get(
    "/payouts", operation_id="pay.payouts.list", response_model=Page[PayoutOut], dependencies=READ
)
async def list_payouts(
    principal: CurrentPrincipal,
    session: DbSession,
    params: PageDep,
    status: Literal["PENDING", "PROCESSING", "SUCCEEDED", "FAILED"] | None = Query(None),
    run_id: str | None = Query(None, alias="runId", max_length=40),
) -> Page[PayoutOut]:
    """List payouts (filter by `status`, `runId`, `q`)."""
    rows, total = await service.list_payouts(session, principal.owner_id, params, status, run_id)
    return Page.of([service.payout_out(p) for p in rows], total, params)


@router.get(
    "/payouts/{payout_id}",
    operation_id="pay.payouts.get",
    response_model=PayoutOut,
    dependencies=READ,
    responses=error_responses(PayoutNotFound),
)
async def get_payout(payout_id: str, principal: CurrentPrincipal, session: DbSession) -> PayoutOut:
    """One payout."""
    return service.payout_out(await service.get_payout(session, principal.owner_id, payout_id))


@router.post(
    "/payroll-runs/{run_id}/disburse",
    operation_id="pay.payroll_runs.disburse",
    status_code=201,
    response_model=DisburseOut,
    dependencies=DISBURSE,
    responses=error_responses(
        ValidationFailed,
        BankAccountMissing,
        WalletInsufficientBalance,
        PayrollRunNotFound,
        PayrollRunNotApproved,
        RunAlreadyDisbursed,
        *IDEMPOTENCY_ERRORS,
    ),
)
async def disburse(
    run_id: str,
    principal: CurrentPrincipal,
    request: Request,
    idempotency_key: str | None = IdemHeader,
) -> Response:
    """One payout per payslip of an approved payroll run (all or nothing)."""
    rt = get_infra(request)

    async def work(session: AsyncSession) -> tuple[int, Any]:
        out = await service.disburse(session, principal.owner_id, run_id, rt.clock())
        return 201, out.model_dump(mode="json", by_alias=True)

    return await run_idempotent(request, principal.owner_id, idempotency_key, {}, work)
