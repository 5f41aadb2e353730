"""Developer accounts: sign-up, email verification, sign-in sessions."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ParamSpec

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from fluide.identity import audit, formats
from fluide.identity.audit import Actor
from fluide.identity.credentials import Credentials, IssuedCredential
from fluide.identity.errors import (
    EmailNotVerified,
    EmailTaken,
    InvalidCredentials,
    SessionRequired,
    VerificationAttemptsExceeded,
    VerificationCodeExpired,
    VerificationCodeInvalid,
)
from fluide.identity.hashing import SecretHasher, hash_password, verify_password
from fluide.identity.models import Account, AccountSession, Credential, EmailVerification, Tenant
from fluide.kit import mailbox, uow
from fluide.kit.clock import Clock
from fluide.kit.errors import ValidationFailed
from fluide.kit.ids import new_id
from fluide.kit.mailer import Mailer
from fluide.kit.ratelimit import RateLimiter
from fluide.settings import Settings

log = logging.getLogger("fluide.accounts")
P = ParamSpec("P")


def normalise_email(email: str) -> str:
    """One mailbox in canonical form (``kit.mailbox``), or 400 ``VALIDATION_FAILED``."""
    try:
        return mailbox.normalise(email)
    except mailbox.NotOneMailbox as exc:
        raise ValidationFailed(errors={"email": [str(exc)]}) from None


def check_password(password: str) -> None:
    if len(password) < 10 or len(password) > 256:
        raise ValidationFailed(errors={"password": ["between 10 and 256 characters"]})


class Accounts:
    """Sign-up, verification and account sessions. Codes and session tokens are digested by
    ``hasher``; ``credentials`` issues the first credential; mails go through ``mailer``, at a
    rate ``limiter`` bounds; lifetimes and attempts come from ``settings``."""

    def __init__(
        self,
        hasher: SecretHasher,
        clock: Clock,
        credentials: Credentials,
        mailer: Mailer,
        limiter: RateLimiter,
        settings: Settings,
    ) -> None:
        self.hasher = hasher
        self.clock = clock
        self.credentials = credentials
        self.mailer = mailer
        self.limiter = limiter
        self.settings = settings

    async def _new_code(self, session: AsyncSession, account: Account) -> str:
        code = f"{secrets.randbelow(1_000_000):06d}"
        now = self.clock()
        # One live code per account: a new one supersedes (and resets the attempts of) the old.
        await session.execute(
            update(EmailVerification)
            .where(
                EmailVerification.account_id == account.id, EmailVerification.consumed_at.is_(None)
            )
            .values(consumed_at=now)
        )
        session.add(
            EmailVerification(
                id=new_id("ver"),
                account_id=account.id,
                code_hash=self.hasher.digest(f"code:{code}"),
                expires_at=now + timedelta(seconds=self.settings.verification_code_ttl_seconds),
                attempts=0,
                created_at=now,
            )
        )
        return code

    async def _send_code(self, email: str, code: str) -> None:
        minutes = self.settings.verification_code_ttl_seconds // 60
        await self.mailer.send(
            email,
            f"Your Fluide Connect verification code: {code}",
            f"Welcome to Fluide Connect.\n\nYour verification code is {code}.\n"
            f"It expires in {minutes} minutes.\n\n"
            f"If you did not sign up, ignore this message.\n",
        )

    async def sign_up(
        self,
        session: AsyncSession,
        actor: Actor,
        *,
        email: str,
        password: str | None,
        tenant_name: str | None,
        partner: bool = False,
    ) -> tuple[Account, str]:
        """Create the account and its tenant (a ``PARTNER`` one with ``partner``, DESIGN §3.7);
        return the account and its verification code.

        For operators (``fluide accounts create``) and tests: a registered address is
        ``EMAIL_ALREADY_REGISTERED``. The public sign-up is ``request_sign_up``, which never
        says so.
        """
        email = normalise_email(email)
        if password is not None:
            check_password(password)
        if await _registered(session, email):
            raise EmailTaken
        password_hash = await asyncio.to_thread(hash_password, password) if password else None
        try:
            return await self._create(
                session, actor, email, password_hash, tenant_name, "PARTNER" if partner else None
            )
        except IntegrityError as exc:
            raise EmailTaken from exc

    async def _create(
        self,
        session: AsyncSession,
        actor: Actor,
        email: str,
        password_hash: str | None,
        tenant_name: str | None,
        kind: str | None = None,
    ) -> tuple[Account, str]:
        now = self.clock()
        tenant = Tenant(
            id=new_id("ten"),
            name=(tenant_name or email.split("@")[0])[:200],
            kind=kind or "BUSINESS",
            created_at=now,
        )
        account = Account(
            id=new_id("acc"),
            email=email,
            password_hash=password_hash,
            tenant_id=tenant.id,
            created_at=now,
        )
        session.add(tenant)
        await session.flush()  # no ORM relationship orders these inserts for us
        session.add(account)
        await session.flush()
        code = await self._new_code(session, account)
        audit.record(
            session,
            self.clock,
            actor,
            "account.signup",
            tenant_id=tenant.id,
            details={"accountId": account.id},
        )
        await session.flush()
        return account, code

    async def request_sign_up(
        self,
        session: AsyncSession,
        actor: Actor,
        *,
        email: str,
        password: str,
        tenant_name: str | None,
    ) -> SignUpRequested:
        """The public sign-up (API and dashboard): it answers alike for new and registered
        addresses (DESIGN §4, no account enumeration). Both paths hash the password (the slow
        part), write and commit one transaction, and send one mail (``send_sign_up_mail``)."""
        email = normalise_email(email)
        check_password(password)
        password_hash = await asyncio.to_thread(hash_password, password)
        existing = await _registered(session, email)
        if existing is None:
            try:
                async with session.begin_nested():
                    _, code = await self._create(session, actor, email, password_hash, tenant_name)
                return SignUpRequested(email, code, email)
            except IntegrityError:  # a concurrent sign-up of the same address committed first
                existing = await _registered(session, email)
        # Shown to the owner in their audit log: someone tried their address.
        audit.record(
            session,
            self.clock,
            actor,
            "account.signup",
            outcome="denied",
            code=EmailTaken.code,
            tenant_id=existing.tenant_id if existing else None,
        )
        await session.flush()
        return SignUpRequested(email, None, existing.email if existing else email)

    async def send_sign_up_mail(self, requested: SignUpRequested) -> None:
        """The code to a new address; to a registered one, a notice instead of a code. At most a
        few per address and hour, so nobody can flood a mailbox through the sign-up form."""
        decision = await self.limiter.hit("5/hour", "signup-mail", requested.mail_to.lower())
        if not decision.allowed:
            log.info("sign-up mail skipped: hourly limit for this address")
            return
        if requested.code is not None:
            await self._send_code(requested.mail_to, requested.code)
            return
        await self.mailer.send(
            requested.mail_to,
            "Someone tried to sign up to Fluide Connect with your address",
            "Someone (maybe you) tried to create a Fluide Connect account with this address, "
            "which already has one.\n\nNo new account was created and nothing changed. If it was "
            "you, sign in with the password you chose when you first signed up; if the address "
            "is still waiting for verification, ask for a new code on the verification page.\n\n"
            "If it was not you, you can ignore this message.\n",
        )

    async def send_verification(self, email: str, code: str) -> None:
        await self._send_code(email, code)

    async def resend_code(self, session: AsyncSession, email: str) -> str | None:
        account = await session.scalar(
            select(Account).where(Account.email == normalise_email(email))
        )
        if account is None or account.email_verified_at is not None:
            return None
        return await self._new_code(session, account)

    async def verify_email(
        self, session: AsyncSession, actor: Actor, *, email: str, code: str
    ) -> Verified:
        """Check the code; on first success provision the default credential (secret shown once).

        A wrong code answers ``VERIFICATION_CODE_INVALID`` whatever the address: unknown,
        registered, already verified, its code expired or locked by wrong tries. Only the holder of
        the right code learns that it expired or is locked (DESIGN §4, no account enumeration).
        """
        account = await session.scalar(
            select(Account).where(Account.email == normalise_email(email))
        )
        pending = None
        if account is not None and account.email_verified_at is None:
            pending = await session.scalar(
                select(EmailVerification)
                .where(
                    EmailVerification.account_id == account.id,
                    EmailVerification.consumed_at.is_(None),
                )
                .order_by(EmailVerification.created_at.desc())
                .limit(1)
                .with_for_update()
            )
        presented = self.hasher.digest(f"code:{code.strip()}")
        # The same digest and comparison whether or not a code is stored; nothing stored, no match.
        stored = pending.code_hash if pending is not None else _NO_CODE
        matches = secrets.compare_digest(stored, presented) and pending is not None
        if pending is None or not matches:
            if pending is not None:
                pending.attempts += 1
                # Keep the count even though the request fails: a retry must see it.
                uow.keep(session)
            raise VerificationCodeInvalid
        if pending.attempts >= self.settings.verification_max_attempts:
            raise VerificationAttemptsExceeded
        if pending.expires_at <= self.clock():
            raise VerificationCodeExpired
        assert account is not None
        pending.consumed_at = self.clock()
        issued = await self.mark_verified(session, actor, account)
        return Verified(account, issued)

    async def mark_verified(
        self, session: AsyncSession, actor: Actor, account: Account
    ) -> IssuedCredential | None:
        account.email_verified_at = self.clock()
        audit.record(
            session,
            self.clock,
            actor,
            "account.verify",
            tenant_id=account.tenant_id,
            details={"accountId": account.id},
        )
        has_credential = await session.scalar(
            select(Credential.id).where(Credential.account_id == account.id).limit(1)
        )
        if has_credential:
            return None
        return await self.credentials.create(
            session,
            actor,
            tenant_id=account.tenant_id,
            account_id=account.id,
            name="Default key",
        )

    async def sign_in(
        self, session: AsyncSession, actor: Actor, *, email: str, password: str
    ) -> SignedIn:
        try:
            email = normalise_email(email)
        except ValidationFailed:
            email = ""
        account = (
            await session.scalar(select(Account).where(Account.email == email)) if email else None
        )
        ok = await asyncio.to_thread(
            verify_password, password, account.password_hash if account else None
        )
        if account is None or not ok:
            await audit.record_denial(
                session,
                self.clock,
                actor,
                "account.signin",
                InvalidCredentials.code,
                tenant_id=account.tenant_id if account else None,
            )
            raise InvalidCredentials
        if account.email_verified_at is None:
            raise EmailNotVerified("Verify your email address before signing in")
        now = self.clock()
        token = formats.new_session_token()
        expires = now + timedelta(seconds=self.settings.session_ttl_seconds)
        session.add(
            AccountSession(
                id=new_id("ses"),
                account_id=account.id,
                token_hash=self.hasher.digest(token),
                created_at=now,
                expires_at=expires,
            )
        )
        audit.record(
            session,
            self.clock,
            Actor("account", account.id, actor.source_ip, actor.request_id),
            "account.signin",
            tenant_id=account.tenant_id,
        )
        await session.flush()
        return SignedIn(account, token, expires)

    async def account_for_session(
        self, session: AsyncSession, token: str | None
    ) -> tuple[Account, AccountSession]:
        if not token or not formats.is_session_token(token):
            raise SessionRequired
        row = (
            await session.execute(
                select(Account, AccountSession)
                .join(AccountSession, AccountSession.account_id == Account.id)
                .where(AccountSession.token_hash == self.hasher.digest(token))
            )
        ).first()
        if row is None:
            raise SessionRequired
        account, sess = row
        if sess.revoked_at is not None or sess.expires_at <= self.clock():
            raise SessionRequired("Your session has ended; sign in again")
        return account, sess

    async def sign_out(
        self, session: AsyncSession, actor: Actor, account: Account, sess: AccountSession
    ) -> None:
        sess.revoked_at = self.clock()
        audit.record(session, self.clock, actor, "account.signout", tenant_id=account.tenant_id)
        await session.flush()


async def _registered(session: AsyncSession, email: str) -> Account | None:
    # Case-insensitive: ``Dev@example.com`` and ``dev@example.com`` are one person.
    account: Account | None = await session.scalar(
        select(Account).where(func.lower(Account.email) == email.lower()).limit(1)
    )
    return account


@dataclass(frozen=True)
class SignUpRequested:
    """What a public sign-up did. ``code`` is None when the address was registered already:
    its owner is told by mail instead, and the caller answers exactly as for a new address.
    ``email`` is the address as asked for (the answer shows it); ``mail_to`` the one stored,
    which may differ in case."""

    email: str
    code: str | None
    mail_to: str

    def __repr__(self) -> str:
        return f"SignUpRequested(new={self.code is not None})"


async def mail_quietly(
    send: Callable[P, Awaitable[None]], *args: P.args, **kwargs: P.kwargs
) -> None:
    """Send a mail after the response (``BackgroundTasks``): a slow or failing mail server
    neither shows in the answer's timing nor fails it. A failure is logged (the type only:
    the message may hold the code); the user asks for a new code."""
    try:
        await send(*args, **kwargs)
    except Exception as exc:
        log.warning("mail not sent", extra={"error_type": type(exc).__name__})


@dataclass(frozen=True)
class Verified:
    account: Account
    issued: IssuedCredential | None


# Compared against when no code is stored: the length of a digest, never equal to one.
_NO_CODE = "!" * 64


@dataclass(frozen=True)
class SignedIn:
    account: Account
    token: str
    expires_at: datetime

    def __repr__(self) -> str:
        return f"SignedIn(account_id={self.account.id!r}, token=***)"
