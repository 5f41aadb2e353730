"""Sign-in throttling: per address and per account (DESIGN §4), for the API and the dashboard.

Three limits, in this order:

1. **Per address** (``signin_limit``): every attempt from an address spends its budget, whatever
   the account; this bounds the password-hashing work one address can ask for.
2. **Per (account, address)** (``signin_failure_limit``): failed attempts on one account from
   one address. Once full, that address's attempts on that account are refused without a
   password check until the oldest failure ages out: this is what stops one address guessing.
   Only the address that failed is refused, so the owner signing in from elsewhere is not.
3. **Per account** (``signin_account_failure_limit``): failed attempts on one account from every
   address together. Once full, failing attempts answer 429 ``RATE_LIMITED`` with
   ``Retry-After`` instead of 401, telling well-behaved clients to back off; a correct password
   still signs in (the exchange's rule, DESIGN §3.2): refusing it would let anyone who knows an
   email address lock its owner out. What bounds a guesser spread over many addresses is limit 2
   per address.

Accounts are keyed by an HMAC of the lower-cased email (no address in clear in Redis), and an
email that has no account is throttled exactly like one that has: the answers and the work
(``accounts.sign_in`` hashes a dummy password) do not tell them apart.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fluide.identity import accounts, audit
from fluide.identity.audit import Actor
from fluide.identity.errors import InvalidCredentials
from fluide.identity.models import Account
from fluide.kit.errors import RateLimited, ValidationFailed
from fluide.runtime import Runtime

TOO_MANY_ATTEMPTS = "Too many sign-in attempts; wait a minute"
LOCKED_OUT = "Too many failed sign-in attempts from this address; try again later"
BACK_OFF = (
    "Email or password is incorrect, and this email has had too many failed sign-ins; "
    "wait before trying again"
)


def account_key(rt: Runtime, email: str) -> str:
    """The limits' id for an email (one account per lower-cased address, see sign-up)."""
    return rt.hasher.digest("signin:" + email.strip().lower())[:32]


async def sign_in(
    rt: Runtime, session: AsyncSession, actor: Actor, *, email: str, password: str
) -> accounts.SignedIn:
    """``accounts.sign_in`` behind the three limits; 429 ``RATE_LIMITED`` when one applies."""
    s = rt.settings
    ip = actor.source_ip or "-"
    budget = await rt.limiter.hit(s.signin_limit, "signin", ip)
    if not budget.allowed:
        raise RateLimited(budget.retry_after, TOO_MANY_ATTEMPTS)
    account = account_key(rt, email)
    # One attempt per (account, address) at a time, each looking at the lock-out when its turn
    # comes: parallel wrong guesses cannot all pass the look before the first failure counts.
    async with rt.signin_turns.turn((account, ip)):
        locked = await rt.limiter.exceeded(s.signin_failure_limit, "sfail", account, ip)
        if locked is not None:
            await _record_refusal(rt, session, actor, email)
            raise RateLimited(locked.retry_after, LOCKED_OUT)
        try:
            return await accounts.sign_in(rt, session, actor, email=email, password=password)
        except InvalidCredentials:
            back_off = await rt.limiter.exceeded(
                s.signin_account_failure_limit, "sfail-acct", account
            )
            await rt.limiter.count_failure(s.signin_failure_limit, "sfail", account, ip)
            await rt.limiter.count_failure(s.signin_account_failure_limit, "sfail-acct", account)
            if back_off is not None:
                raise RateLimited(back_off.retry_after, BACK_OFF) from None
            raise


async def _record_refusal(rt: Runtime, session: AsyncSession, actor: Actor, email: str) -> None:
    """Audit a refused attempt in its account's log (the same query whether or not it exists)."""
    try:
        normalised = accounts.normalise_email(email)
    except ValidationFailed:
        normalised = ""
    tenant_id = await session.scalar(select(Account.tenant_id).where(Account.email == normalised))
    await audit.record_denial(
        session, rt.clock, actor, "account.signin", RateLimited.code, tenant_id=tenant_id
    )
