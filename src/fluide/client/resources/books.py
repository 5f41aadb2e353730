"""``client.books``: the chart of accounts, journal entries and the trial balance."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from typing_extensions import Unpack

from fluide.client._call import NOT_GIVEN, NotGiven, RequestOptions, body, model, query
from fluide.client._pagination import PageData, page_of
from fluide.client._resource import Executor, ModeT, Resource, Spec, list_route, operation, route
from fluide.client.models import (
    AccountCreate,
    JournalEntry,
    JournalEntryCreate,
    JournalLineInput,
    LedgerAccount,
    TrialBalance,
)
from fluide.client.resources._common import health_spec

Lines = Sequence[JournalLineInput | dict[str, Any]]


class Accounts(Resource[ModeT]):
    @list_route("/api/v1/books/accounts")
    def list(
        self,
        *,
        q: str | NotGiven = NOT_GIVEN,
        page: int | NotGiven = NOT_GIVEN,
        limit: int | NotGiven = NOT_GIVEN,
        **options: Unpack[RequestOptions],
    ) -> Spec[PageData[LedgerAccount]]:
        """The chart of accounts (seeded on first use), by code."""
        params = query(q=q, page=page, limit=limit)
        return Spec(page_of(LedgerAccount), params=params, options=options)

    @route("POST", "/api/v1/books/accounts")
    def create(
        self,
        *,
        code: str,
        name: str,
        type: str,
        idempotency_key: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> Spec[LedgerAccount]:
        """Add an account (``type``: ASSET, LIABILITY, EQUITY, INCOME, EXPENSE)."""
        return Spec(
            model(LedgerAccount),
            json=body(AccountCreate, {"code": code, "name": name, "type": type}),
            options=options,
            idempotency_key=idempotency_key,
        )


class JournalEntries(Resource[ModeT]):
    @list_route("/api/v1/books/journal-entries")
    def list(
        self,
        *,
        source: str | NotGiven = NOT_GIVEN,
        q: str | NotGiven = NOT_GIVEN,
        page: int | NotGiven = NOT_GIVEN,
        limit: int | NotGiven = NOT_GIVEN,
        **options: Unpack[RequestOptions],
    ) -> Spec[PageData[JournalEntry]]:
        """Journal entries, every page (``q`` searches descriptions; ``source``: MANUAL,
        PAYROLL, …)."""
        params = query(source=source, q=q, page=page, limit=limit)
        return Spec(page_of(JournalEntry), params=params, options=options)

    @route("GET", "/api/v1/books/journal-entries/{entry_id}")
    def get(self, entry_id: str, **options: Unpack[RequestOptions]) -> Spec[JournalEntry]:
        return Spec(model(JournalEntry), path={"entry_id": entry_id}, options=options)

    @route("POST", "/api/v1/books/journal-entries", dedupes=True)
    def create(
        self,
        *,
        date: date | str,
        description: str,
        currency: str,
        lines: Lines,
        idempotency_key: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> Spec[JournalEntry]:
        """Post a balanced entry: ``lines`` of ``{"account_code", "debit"}`` or
        ``{"account_code", "credit"}`` (or ``JournalLineInput``)."""
        fields = {
            "date": date,
            "description": description,
            "currency": currency,
            "lines": list(lines),
        }
        return Spec(
            model(JournalEntry),
            json=body(JournalEntryCreate, fields),
            options=options,
            idempotency_key=idempotency_key,
        )

    @route("POST", "/api/v1/books/journal-entries/{entry_id}/void")
    def void(
        self,
        entry_id: str,
        *,
        idempotency_key: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> Spec[JournalEntry]:
        """Void an entry by posting its reversal (nothing is deleted); returns the reversal."""
        return Spec(
            model(JournalEntry),
            path={"entry_id": entry_id},
            options=options,
            idempotency_key=idempotency_key,
        )


class Books(Resource[ModeT]):
    def __init__(self, client: Executor) -> None:
        super().__init__(client)
        self.accounts: Accounts[ModeT] = Accounts(client)
        self.journal_entries: JournalEntries[ModeT] = JournalEntries(client)

    health = operation("GET", "/api/v1/books/health", health_spec, dedupes=False)

    @route("GET", "/api/v1/books/trial-balance")
    def trial_balance(
        self,
        *,
        as_of: date | str | NotGiven = NOT_GIVEN,
        currency: str | NotGiven = NOT_GIVEN,
        **options: Unpack[RequestOptions],
    ) -> Spec[TrialBalance]:
        """Debit and credit totals per account up to ``as_of`` (default: today)."""
        params = query(asOf=as_of, currency=currency)
        return Spec(model(TrialBalance), params=params, options=options)
