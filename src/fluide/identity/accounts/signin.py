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
(``Accounts.sign_in`` hashes a dummy password) do not tell them apart.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fluide.identity import audit
from fluide.identity.accounts.service import Accounts, SignedIn, normalise_email
from fluide.identity.audit import Actor
from fluide.identity.errors import InvalidCredentials
from fluide.identity.hashing import SecretHasher
from fluide.identity.models import Account
from fluide.kit.clock import Clock
from fluide.kit.errors import RateLimited, ValidationFailed
from fluide.kit.ratelimit import RateLimiter
from fluide.kit.turns import Turns
from fluide.settings import Settings

TOO_MANY_ATTEMPTS = "Too many sign-in attempts; wait a minute"
LOCKED_OUT = "Too many failed sign-in attempts from this address; try again later"
BACK_OFF = (
    "Email or password is incorrect, and this email has had too many failed sign-ins; "
    "wait before trying again"
)


class SignIn:
    """``Accounts.sign_in`` behind the three limits (module doc), kept in ``limiter``."""

    def __init__(
        self,
        accounts: Accounts,
        hasher: SecretHasher,
        clock: Clock,
        limiter: RateLimiter,
        settings: Settings,
    ) -> None:
        self.accounts = accounts
        self.hasher = hasher
        self.clock = clock
        self.limiter = limiter
        self.settings = settings
        # Sign-in attempts for one (account, address) check one at a time (below).
        self.turns = Turns()

    def account_key(self, email: str) -> str:
        """The limits' id for an email (one account per lower-cased address, see sign-up)."""
        return self.hasher.digest("signin:" + email.strip().lower())[:32]

    async def sign_in(
        self, session: AsyncSession, actor: Actor, *, email: str, password: str
    ) -> SignedIn:
        """``Accounts.sign_in`` behind the three limits; 429 ``RATE_LIMITED`` when one applies."""
        s = self.settings
        ip = actor.source_ip or "-"
        budget = await self.limiter.hit(s.signin_limit, "signin", ip)
        if not budget.allowed:
            raise RateLimited(budget.retry_after, TOO_MANY_ATTEMPTS)
        account = self.account_key(email)
        # One attempt per (account, address) at a time, each looking at the lock-out when its
        # turn comes: parallel wrong guesses cannot all pass the look before the first failure
        # counts.
        async with self.turns.turn((account, ip)):
            locked = await self.limiter.exceeded(s.signin_failure_limit, "sfail", account, ip)
            if locked is not None:
                await self._record_refusal(session, actor, email)
                raise RateLimited(locked.retry_after, LOCKED_OUT)
            try:
                return await self.accounts.sign_in(session, actor, email=email, password=password)
            except InvalidCredentials:
                back_off = await self.limiter.exceeded(
                    s.signin_account_failure_limit, "sfail-acct", account
                )
                await self.limiter.count_failure(s.signin_failure_limit, "sfail", account, ip)
                await self.limiter.count_failure(
                    s.signin_account_failure_limit, "sfail-acct", account
                )
                if back_off is not None:
                    raise RateLimited(back_off.retry_after, BACK_OFF) from None
                raise

    async def _record_refusal(self, session: AsyncSession, actor: Actor, email: str) -> None:
        """Audit a refused attempt in its account's log (the same query whether or not it
        exists)."""
        try:
            normalised = normalise_email(email)
        except ValidationFailed:
            normalised = ""
        tenant_id = await session.scalar(
            select(Account.tenant_id).where(Account.email == normalised)
        )
        await audit.record_denial(
            session, self.clock, actor, "account.signin", RateLimited.code, tenant_id=tenant_id
        )
