"""Books routes."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import Query, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from fluide.apidocs import error_responses
from fluide.gateway import CurrentPrincipal, guarded_router, require_scope
from fluide.kit.errors import ValidationFailed
from fluide.kit.pagination import Page, PageDep
from fluide.kit.uow import DbSession, get_infra
from fluide.products.books import service
from fluide.products.books.schemas import (
    AccountCreate,
    BooksAccount,
    JournalEntryCreate,
    JournalEntryOut,
    TrialBalanceOut,
)
from fluide.products.books.service import (
    AccountCodeTaken,
    AccountNotFound,
    JournalEntryAlreadyVoided,
    JournalEntryNotBalanced,
    JournalEntryNotFound,
)
from fluide.products.idempotent import IDEMPOTENCY_ERRORS, IdemHeader, run_idempotent

router = guarded_router("books")
READ = [require_scope("books:read")]
WRITE = [require_scope("books:write")]


@router.get(
    "/accounts",
    operation_id="books.accounts.list",
    response_model=Page[BooksAccount],
    dependencies=READ,
)
async def list_accounts(
    principal: CurrentPrincipal, session: DbSession, params: PageDep, request: Request
) -> Page[BooksAccount]:
    """The chart of accounts (seeded on first use)."""
    now = get_infra(request).clock()
    rows, total = await service.list_accounts(session, principal.owner_id, params, now)
    return Page.of([service.account_out(a) for a in rows], total, params)


@router.post(
    "/accounts",
    operation_id="books.accounts.create",
    status_code=201,
    response_model=BooksAccount,
    dependencies=WRITE,
    responses=error_responses(AccountCodeTaken),
)
async def create_account(
    body: AccountCreate, principal: CurrentPrincipal, session: DbSession, request: Request
) -> BooksAccount:
    """Add an account to the chart."""
    now = get_infra(request).clock()
    return service.account_out(await service.create_account(session, principal.owner_id, body, now))


@router.post(
    "/journal-entries",
    operation_id="books.journal_entries.create",
    status_code=201,
    response_model=JournalEntryOut,
    dependencies=WRITE,
    responses=error_responses(
        ValidationFailed,
        JournalEntryNotBalanced,
        AccountNotFound,
        *IDEMPOTENCY_ERRORS,
    ),
)
async def create_entry(
    body: JournalEntryCreate,
    principal: CurrentPrincipal,
    request: Request,
    idempotency_key: str | None = IdemHeader,
) -> Response:
    """Post a balanced journal entry (takes an `Idempotency-Key`)."""
    rt = get_infra(request)

    async def work(session: AsyncSession) -> tuple[int, Any]:
        entry = await service.create_manual_entry(session, principal.owner_id, body, rt.clock())
        return 201, service.entry_out(entry).model_dump(mode="json", by_alias=True)

    return await run_idempotent(
        request, principal.owner_id, idempotency_key, body.model_dump(mode="json"), work
    )


@router.get(
    "/journal-entries",
    operation_id="books.journal_entries.list",
    response_model=Page[JournalEntryOut],
    dependencies=READ,
)
async def list_entries(
    principal: CurrentPrincipal,
    session: DbSession,
    params: PageDep,
    source: str | None = Query(None, max_length=16),
) -> Page[JournalEntryOut]:
    """List journal entries (filter by `q` on the description, and `source`)."""
    rows, total = await service.list_entries(session, principal.owner_id, params, source)
    return Page.of([service.entry_out(e) for e in rows], total, params)


@router.get(
    "/journal-entries/{entry_id}",
    operation_id="books.journal_entries.get",
    response_model=JournalEntryOut,
    dependencies=READ,
    responses=error_responses(JournalEntryNotFound),
)
async def get_entry(
    entry_id: str, principal: CurrentPrincipal, session: DbSession
) -> JournalEntryOut:
    """One journal entry with its lines."""
    return service.entry_out(await service.get_entry(session, principal.owner_id, entry_id))


@router.post(
    "/journal-entries/{entry_id}/void",
    operation_id="books.journal_entries.void",
    status_code=201,
    response_model=JournalEntryOut,
    dependencies=WRITE,
    responses=error_responses(JournalEntryNotFound, JournalEntryAlreadyVoided),
)
async def void_entry(
    entry_id: str, principal: CurrentPrincipal, session: DbSession, request: Request
) -> JournalEntryOut:
    """Void an entry by posting its reversal (nothing is deleted); returns the reversal."""
    now = get_infra(request).clock()
    return service.entry_out(await service.void_entry(session, principal.owner_id, entry_id, now))


@router.get(
    "/trial-balance",
    operation_id="books.trial_balance",
    response_model=TrialBalanceOut,
    dependencies=READ,
)
async def trial_balance(
    principal: CurrentPrincipal,
    session: DbSession,
    request: Request,
    as_of: date | None = Query(None, alias="asOf"),
    currency: str | None = Query(None, pattern=r"^[A-Z]{3}$"),
) -> TrialBalanceOut:
    """Debit and credit totals per account up to `asOf` (default today)."""
    now = get_infra(request).clock()
    return await service.trial_balance(
        session, principal.owner_id, as_of or now.date(), currency, now
    )
