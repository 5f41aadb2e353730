"""``client.pay``: wallets, payouts, and paying out an approved payroll run.

The money-moving POSTs here are deduplicated by the server on their ``Idempotency-Key`` (the
client sends one with every POST), so the client retries them after a 429, a 503 or a lost
connection: the server answers a repeat with the first answer instead of paying twice.
"""

from __future__ import annotations

from typing import Any

from typing_extensions import Unpack

from fluide.client._call import NOT_GIVEN, NotGiven, RequestOptions, body, model, query
from fluide.client._pagination import PageData, page_of
from fluide.client._resource import Executor, ModeT, Resource, Spec, list_route, operation, route
from fluide.client.models import (
    Disbursement,
    FundInput,
    Payout,
    PayoutCreate,
    Recipient,
    Wallet,
)
from fluide.client.resources._common import Amount, health_spec


class Wallets(Resource[ModeT]):
    @list_route("/api/v1/pay/wallets")
    def list(
        self,
        *,
        page: int | NotGiven = NOT_GIVEN,
        limit: int | NotGiven = NOT_GIVEN,
        **options: Unpack[RequestOptions],
    ) -> Spec[PageData[Wallet]]:
        """Your wallets, one per currency."""
        return Spec(page_of(Wallet), params=query(page=page, limit=limit), options=options)

    @route("POST", "/api/v1/pay/wallets/{currency}/fund", dedupes=True)
    def fund(
        self,
        currency: str,
        *,
        amount: Amount,
        reference: str | NotGiven = NOT_GIVEN,
        idempotency_key: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> Spec[Wallet]:
        """Sandbox: add money to the wallet of ``currency`` (created on first use)."""
        return Spec(
            model(Wallet),
            path={"currency": currency},
            json=body(FundInput, {"amount": amount, "reference": reference}),
            options=options,
            idempotency_key=idempotency_key,
        )


class Payouts(Resource[ModeT]):
    @list_route("/api/v1/pay/payouts")
    def list(
        self,
        *,
        status: str | NotGiven = NOT_GIVEN,
        run_id: str | NotGiven = NOT_GIVEN,
        q: str | NotGiven = NOT_GIVEN,
        page: int | NotGiven = NOT_GIVEN,
        limit: int | NotGiven = NOT_GIVEN,
        **options: Unpack[RequestOptions],
    ) -> Spec[PageData[Payout]]:
        """Payouts, every page (``status``: PENDING, PROCESSING, SUCCEEDED, FAILED;
        ``run_id``: of one payroll run)."""
        params = query(status=status, runId=run_id, q=q, page=page, limit=limit)
        return Spec(page_of(Payout), params=params, options=options)

    @route("GET", "/api/v1/pay/payouts/{payout_id}")
    def get(self, payout_id: str, **options: Unpack[RequestOptions]) -> Spec[Payout]:
        return Spec(model(Payout), path={"payout_id": payout_id}, options=options)

    @route("POST", "/api/v1/pay/payouts", dedupes=True)
    def create(
        self,
        *,
        amount: Amount,
        currency: str,
        recipient: Recipient | dict[str, Any],
        reference: str,
        idempotency_key: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> Spec[Payout]:
        """Debit the wallet and queue a payout for settlement."""
        fields = {
            "amount": amount,
            "currency": currency,
            "recipient": recipient,
            "reference": reference,
        }
        return Spec(
            model(Payout),
            json=body(PayoutCreate, fields),
            options=options,
            idempotency_key=idempotency_key,
        )


class PayrollRuns(Resource[ModeT]):
    @route("POST", "/api/v1/pay/payroll-runs/{run_id}/disburse", dedupes=True)
    def disburse(
        self, run_id: str, *, idempotency_key: str | None = None, **options: Unpack[RequestOptions]
    ) -> Spec[Disbursement]:
        """One payout per payslip of an approved payroll run (all or nothing)."""
        return Spec(
            model(Disbursement),
            path={"run_id": run_id},
            options=options,
            idempotency_key=idempotency_key,
        )


class Pay(Resource[ModeT]):
    def __init__(self, client: Executor) -> None:
        super().__init__(client)
        self.wallets: Wallets[ModeT] = Wallets(client)
        self.payouts: Payouts[ModeT] = Payouts(client)
        self.payroll_runs: PayrollRuns[ModeT] = PayrollRuns(client)

    health = operation("GET", "/api/v1/pay/health", health_spec, dedupes=False)
