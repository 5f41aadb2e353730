"""Developer accounts: sign-up, email verification, sign-in sessions."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from fluide.identity import audit, credentials, formats
from fluide.identity.audit import Actor
from fluide.identity.errors import (
    EmailNotVerified,
    EmailTaken,
    InvalidCredentials,
    SessionRequired,
    VerificationAttemptsExceeded,
    VerificationCodeExpired,
    VerificationCodeInvalid,
)
from fluide.identity.hashing import hash_password, verify_password
from fluide.identity.models import Account, AccountSession, Credential, EmailVerification, Tenant
from fluide.kit.errors import ValidationFailed
from fluide.kit.ids import new_id
from fluide.runtime import Runtime


def normalise_email(email: str) -> str:
    email = email.strip()
    local, _, domain = email.rpartition("@")
    if not local or not domain or "." not in domain or len(email) > 320 or " " in email:
        raise ValidationFailed(errors={"email": ["a valid email address is required"]})
    return f"{local}@{domain.lower()}"


def check_password(password: str) -> None:
    if len(password) < 10 or len(password) > 256:
        raise ValidationFailed(errors={"password": ["between 10 and 256 characters"]})


async def _new_code(rt: Runtime, session: AsyncSession, account: Account) -> str:
    code = f"{secrets.randbelow(1_000_000):06d}"
    now = rt.clock()
    # One live code per account: a new one supersedes (and resets the attempts of) the old.
    await session.execute(
        update(EmailVerification)
        .where(EmailVerification.account_id == account.id, EmailVerification.consumed_at.is_(None))
        .values(consumed_at=now)
    )
    session.add(
        EmailVerification(
            id=new_id("ver"),
            account_id=account.id,
            code_hash=rt.hasher.digest(f"code:{code}"),
            expires_at=now + timedelta(seconds=rt.settings.verification_code_ttl_seconds),
            attempts=0,
            created_at=now,
        )
    )
    return code


async def _send_code(rt: Runtime, email: str, code: str) -> None:
    minutes = rt.settings.verification_code_ttl_seconds // 60
    await rt.mailer.send(
        email,
        f"Your Fluide Connect verification code: {code}",
        f"Welcome to Fluide Connect.\n\nYour verification code is {code}.\n"
        f"It expires in {minutes} minutes.\n\n"
        f"If you did not sign up, ignore this message.\n",
    )


async def sign_up(
    rt: Runtime,
    session: AsyncSession,
    actor: Actor,
    *,
    email: str,
    password: str | None,
    tenant_name: str | None,
) -> tuple[Account, str]:
    """Create the account and its tenant; return the account and its verification code."""
    email = normalise_email(email)
    if password is not None:
        check_password(password)
    exists = await session.scalar(
        select(Account.id).where(func.lower(Account.email) == email.lower())
    )
    if exists:
        raise EmailTaken
    now = rt.clock()
    tenant = Tenant(
        id=new_id("ten"), name=(tenant_name or email.split("@")[0])[:200], created_at=now
    )
    password_hash = await asyncio.to_thread(hash_password, password) if password else None
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
    try:
        await session.flush()
    except IntegrityError as exc:
        raise EmailTaken from exc
    code = await _new_code(rt, session, account)
    audit.record(
        session,
        rt.clock,
        actor,
        "account.signup",
        tenant_id=tenant.id,
        details={"accountId": account.id},
    )
    await session.flush()
    return account, code


async def send_verification(rt: Runtime, email: str, code: str) -> None:
    await _send_code(rt, email, code)


async def resend_code(rt: Runtime, session: AsyncSession, email: str) -> str | None:
    account = await session.scalar(select(Account).where(Account.email == normalise_email(email)))
    if account is None or account.email_verified_at is not None:
        return None
    return await _new_code(rt, session, account)


@dataclass(frozen=True)
class Verified:
    account: Account
    issued: credentials.IssuedCredential | None


async def verify_email(
    rt: Runtime, session: AsyncSession, actor: Actor, *, email: str, code: str
) -> Verified:
    """Check the code; on first success provision the default credential (secret shown once)."""
    account = await session.scalar(select(Account).where(Account.email == normalise_email(email)))
    if account is None:
        raise VerificationCodeInvalid
    if account.email_verified_at is not None:
        raise VerificationCodeInvalid("This email is already verified; sign in")
    pending = await session.scalar(
        select(EmailVerification)
        .where(EmailVerification.account_id == account.id, EmailVerification.consumed_at.is_(None))
        .order_by(EmailVerification.created_at.desc())
        .limit(1)
        .with_for_update()
    )
    now = rt.clock()
    if pending is None:
        raise VerificationCodeInvalid
    if pending.attempts >= rt.settings.verification_max_attempts:
        raise VerificationAttemptsExceeded
    if pending.expires_at <= now:
        raise VerificationCodeExpired
    if not secrets.compare_digest(pending.code_hash, rt.hasher.digest(f"code:{code.strip()}")):
        pending.attempts += 1
        # Commit the count even though the request fails: a retry must see it.
        await session.commit()
        if pending.attempts >= rt.settings.verification_max_attempts:
            raise VerificationAttemptsExceeded
        raise VerificationCodeInvalid
    pending.consumed_at = now
    issued = await mark_verified(rt, session, actor, account)
    return Verified(account, issued)


async def mark_verified(
    rt: Runtime, session: AsyncSession, actor: Actor, account: Account
) -> credentials.IssuedCredential | None:
    account.email_verified_at = rt.clock()
    audit.record(
        session,
        rt.clock,
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
    return await credentials.create(
        session,
        rt.hasher,
        rt.clock,
        actor,
        tenant_id=account.tenant_id,
        account_id=account.id,
        name="Default key",
    )


@dataclass(frozen=True)
class SignedIn:
    account: Account
    token: str
    expires_at: datetime

    def __repr__(self) -> str:
        return f"SignedIn(account_id={self.account.id!r}, token=***)"


async def sign_in(
    rt: Runtime, session: AsyncSession, actor: Actor, *, email: str, password: str
) -> SignedIn:
    try:
        email = normalise_email(email)
    except ValidationFailed:
        email = ""
    account = await session.scalar(select(Account).where(Account.email == email)) if email else None
    ok = await asyncio.to_thread(
        verify_password, password, account.password_hash if account else None
    )
    if account is None or not ok:
        await audit.record_denial(
            session,
            rt.clock,
            actor,
            "account.signin",
            InvalidCredentials.code,
            tenant_id=account.tenant_id if account else None,
        )
        raise InvalidCredentials
    if account.email_verified_at is None:
        raise EmailNotVerified("Verify your email address before signing in")
    now = rt.clock()
    token = formats.new_session_token()
    expires = now + timedelta(seconds=rt.settings.session_ttl_seconds)
    session.add(
        AccountSession(
            id=new_id("ses"),
            account_id=account.id,
            token_hash=rt.hasher.digest(token),
            created_at=now,
            expires_at=expires,
        )
    )
    audit.record(
        session,
        rt.clock,
        Actor("account", account.id, actor.source_ip, actor.request_id),
        "account.signin",
        tenant_id=account.tenant_id,
    )
    await session.flush()
    return SignedIn(account, token, expires)


async def account_for_session(
    rt: Runtime, session: AsyncSession, token: str | None
) -> tuple[Account, AccountSession]:
    if not token or not formats.is_session_token(token):
        raise SessionRequired
    row = (
        await session.execute(
            select(Account, AccountSession)
            .join(AccountSession, AccountSession.account_id == Account.id)
            .where(AccountSession.token_hash == rt.hasher.digest(token))
        )
    ).first()
    if row is None:
        raise SessionRequired
    account, sess = row
    if sess.revoked_at is not None or sess.expires_at <= rt.clock():
        raise SessionRequired("Your session has ended; sign in again")
    return account, sess


async def sign_out(
    rt: Runtime, session: AsyncSession, actor: Actor, account: Account, sess: AccountSession
) -> None:
    sess.revoked_at = rt.clock()
    audit.record(session, rt.clock, actor, "account.signout", tenant_id=account.tenant_id)
    await session.flush()
