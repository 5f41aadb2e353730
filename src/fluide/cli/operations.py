"""What the operator commands do, on the database directly. Imported when such a command runs.

Two ways in: ``prepare`` for commands that may create things (it migrates, and warns when the
database is new, the classic sign of a command run from another folder than the server), and
``existing`` for commands that only read or revoke: they never create a database or a data
directory, and refuse a schema that is not at head instead of writing to it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fluide import migrations
from fluide.cli.common import CliError, warn
from fluide.cli.errors import check_database_url, database_label
from fluide.identity import audit, keyring
from fluide.identity.audit import Actor
from fluide.identity.credentials import Credentials, PolicyChange
from fluide.identity.feed import REDIS_CHANNEL_NAME, publish_change
from fluide.identity.hashing import SecretHasher
from fluide.identity.jwt_core import KeyEncryptor
from fluide.identity.models import Account, Credential, SigningKeyRow
from fluide.identity.part import Identity
from fluide.identity.policy import load_cidrs
from fluide.kit import datadir
from fluide.kit.clock import system_clock
from fluide.kit.db import make_engine, make_sessionmaker
from fluide.kit.errors import AppError, ValidationFailed
from fluide.kit.infra import Infrastructure
from fluide.settings import Settings

CLI_ACTOR = Actor("system", "cli", None, None)
ELSEWHERE = "the running server may use another data dir (--data-dir / FLUIDE_DATA_DIR)"


def sqlite_path(settings: Settings) -> Path | None:
    from sqlalchemy import make_url

    url = make_url(settings.resolved_database_url)
    return Path(url.database or "") if url.drivername.startswith("sqlite") else None


def _is_new(settings: Settings) -> bool:
    path = sqlite_path(settings)
    if path is not None:
        return not path.exists()
    return migrations.current(settings.resolved_database_url) is None


def prepare(settings: Settings, *, warn_if_new: bool = True) -> list[str]:
    """Migrate (creating the database if needed); the revisions applied, oldest first."""
    check_database_url(settings)
    if warn_if_new and _is_new(settings):
        path = sqlite_path(settings)
        if path is not None:
            warn(f"no database at {path}; creating one — {ELSEWHERE}")
        else:
            warn(
                f"{database_label(settings)} has no schema; creating it — the running server "
                "may use another database (FLUIDE_DATABASE_URL)"
            )
    datadir.secure(settings.data_dir)  # 0700, files 0600, as the server keeps it
    return migrations.upgrade(settings.resolved_database_url)


def revision(settings: Settings) -> str | None:
    """The schema revision; None for a database without schema. Creates nothing."""
    check_database_url(settings)
    path = sqlite_path(settings)
    if path is not None and not path.exists():
        raise CliError(
            f"no database at {path}: pass the server's --data-dir (or FLUIDE_DATA_DIR), "
            "or create one with `fluide db upgrade`"
        )
    return migrations.current(settings.resolved_database_url)


@asynccontextmanager
async def existing(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on a database that exists and is at head; nothing is created."""
    current, head = revision(settings), migrations.head()
    if current != head:
        found = "has no schema" if current is None else f"is at {current}"
        raise CliError(
            f"the database ({database_label(settings)}) {found}, this fluide needs {head}: "
            "run `fluide db upgrade`"
        )
    engine = make_engine(settings.resolved_database_url, 1)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# ---- accounts ---------------------------------------------------------------------------------


async def create_account(
    settings: Settings,
    email: str,
    password: str | None,
    tenant_name: str | None,
    verified: bool,
    *,
    partner: bool = False,
) -> dict[str, str]:
    infra = Infrastructure(settings)
    identity = Identity(infra)
    try:
        async with infra.sessionmaker() as session, session.begin():
            account, _code = await identity.accounts.sign_up(
                session,
                CLI_ACTOR,
                email=email,
                password=password,
                tenant_name=tenant_name,
                partner=partner,
            )
            if verified:
                issued = await identity.accounts.mark_verified(session, CLI_ACTOR, account)
            else:
                issued = await identity.credentials.create(
                    session,
                    CLI_ACTOR,
                    tenant_id=account.tenant_id,
                    account_id=account.id,
                    name="Default key",
                )
            assert issued is not None
            return {
                "accountId": account.id,
                "tenantId": account.tenant_id,
                "apiKey": issued.credential.api_key,
                "apiSecret": issued.api_secret,
            }
    finally:
        await infra.engine.dispose()


async def list_accounts(settings: Settings) -> list[dict[str, Any]]:
    async with existing(settings) as sessions, sessions() as session:
        counts = (
            select(Credential.account_id, func.count().label("n"))
            .where(Credential.status == "active")
            .group_by(Credential.account_id)
            .subquery()
        )
        rows = await session.execute(
            select(Account, func.coalesce(counts.c.n, 0))
            .outerjoin(counts, counts.c.account_id == Account.id)
            .order_by(Account.created_at)
        )
        return [
            {
                "accountId": a.id,
                "email": a.email,
                "tenantId": a.tenant_id,
                "verifiedAt": _iso(a.email_verified_at),
                "createdAt": _iso(a.created_at),
                "activeCredentials": int(n),
            }
            for a, n in rows
        ]


# ---- credentials ------------------------------------------------------------------------------


def _credential_out(c: Credential, email: str) -> dict[str, Any]:
    return {
        "credentialId": c.id,
        "name": c.name,
        "apiKey": c.api_key,
        "environment": c.environment,
        "status": c.status,
        "tenantId": c.tenant_id,
        "accountId": c.account_id,
        "email": email,
        "createdAt": _iso(c.created_at),
        "lastUsedAt": _iso(c.last_used_at),
        "secretRotatedAt": _iso(c.secret_rotated_at),
        "secretExposedAt": _iso(c.secret_exposed_at),
        "revokedAt": _iso(c.revoked_at),
        "scopes": c.scopes.split(),
        "expiresAt": _iso(c.expires_at),
        "allowedCidrs": load_cidrs(c.allowed_cidrs),
        "rateLimit": c.rate_limit,
    }


async def list_credentials(
    settings: Settings, account: str | None, tenant: str | None
) -> list[dict[str, Any]]:
    """Every credential, or an account's (id or email) or a tenant's. Never a secret or hash."""
    async with existing(settings) as sessions, sessions() as session:
        query = select(Credential, Account.email).join(Account, Account.id == Credential.account_id)
        if account is not None:
            query = query.where(
                or_(Account.id == account, func.lower(Account.email) == account.strip().lower())
            )
        if tenant is not None:
            query = query.where(Credential.tenant_id == tenant)
        rows = await session.execute(query.order_by(Credential.created_at))
        return [_credential_out(c, email) for c, email in rows]


async def revoke_credential(settings: Settings, ident: str) -> tuple[dict[str, Any], bool]:
    """Revoke by credential id or API key, audited like the API's revocation; then nudge the
    running servers (the change feed reaches them within a second anyway). Returns the
    credential and whether it was active until now."""
    async with existing(settings) as sessions, sessions() as session, session.begin():
        cred = await session.scalar(
            select(Credential)
            .where(or_(Credential.id == ident, Credential.api_key == ident))
            .with_for_update()
        )
        if cred is None:
            raise CliError(f"no credential {ident!r}: see `fluide credentials list`")
        was_active = cred.status != "revoked"
        revoker = Credentials(SecretHasher(settings.pepper_bytes()), system_clock)
        await revoker.revoke(session, CLI_ACTOR, cred)
        email = await session.scalar(select(Account.email).where(Account.id == cred.account_id))
        out = _credential_out(cred, email or "")
    if was_active:
        redis_url = settings.redis_url.get_secret_value() if settings.redis_url else None
        await publish_change(redis_url, settings.redis_prefix + REDIS_CHANNEL_NAME)
    return out, was_active


async def set_credential_policy(
    settings: Settings, ident: str, change: PolicyChange
) -> dict[str, Any]:
    """Change a credential's policy (by id or API key), audited and applied by every running
    server within a second, as the API's ``PATCH /api/v1/auth/credentials/{id}``."""
    async with existing(settings) as sessions, sessions() as session, session.begin():
        cred = await session.scalar(
            select(Credential)
            .where(or_(Credential.id == ident, Credential.api_key == ident))
            .with_for_update()
        )
        if cred is None:
            raise CliError(f"no credential {ident!r}: see `fluide credentials list`")
        service = Credentials(SecretHasher(settings.pepper_bytes()), system_clock)
        try:
            await service.set_policy(session, CLI_ACTOR, cred, change)
        except ValidationFailed as exc:
            problems = "; ".join(f"{k}: {', '.join(v)}" for k, v in (exc.errors or {}).items())
            raise CliError(problems or exc.message) from None
        except AppError as exc:
            raise CliError(exc.message) from None
        email = await session.scalar(select(Account.email).where(Account.id == cred.account_id))
        out = _credential_out(cred, email or "")
    redis_url = settings.redis_url.get_secret_value() if settings.redis_url else None
    await publish_change(redis_url, settings.redis_prefix + REDIS_CHANNEL_NAME)
    return out


# ---- signing keys -----------------------------------------------------------------------------


async def list_keys(settings: Settings) -> list[dict[str, str | None]]:
    """The signing keys as stored: no key is created, promoted or pruned here."""
    async with existing(settings) as sessions, sessions() as session:
        rows = await session.scalars(select(SigningKeyRow).order_by(SigningKeyRow.created_at))
        return [
            {
                "kid": r.kid,
                "alg": r.alg,
                "state": r.state,
                "createdAt": _iso(r.created_at),
                "activatedAt": _iso(r.activated_at),
                "retiredAt": _iso(r.retired_at),
                "removedAt": _iso(r.removed_at),
            }
            for r in rows
        ]


async def revoke_key(settings: Settings, kid: str) -> str:
    """``keyring.revoke``, audited, then the running servers nudged; the key's former state."""
    async with existing(settings) as sessions, sessions() as session, session.begin():
        try:
            before = await keyring.revoke(session, kid, system_clock())
        except keyring.NoSuchKey:
            raise CliError(f"no signing key {kid!r}: see `fluide keys list`") from None
        except keyring.KeyIsSigning:
            raise CliError(
                f"{kid} still signs (the active key, or one a scheduled rotation replaces): run "
                "`fluide keys rotate` first, then revoke it once it is retired and no longer "
                "signs (`fluide keys list` shows when)"
            ) from None
        if before != "removed":
            audit.record(
                session, system_clock, CLI_ACTOR, "signing_key.revoked", details={"kid": kid}
            )
    if before != "removed":
        redis_url = settings.redis_url.get_secret_value() if settings.redis_url else None
        await publish_change(redis_url, settings.redis_prefix + REDIS_CHANNEL_NAME)
    return before


async def rotate_keys(settings: Settings) -> tuple[str, datetime, datetime]:
    """Promote the next key; returns its kid, when it starts signing and the time it was asked."""
    infra = Infrastructure(settings)
    encryptor = KeyEncryptor(settings.kek_bytes())
    try:
        await keyring.ensure_signing_keys(
            infra.sessionmaker, settings.signing_alg, encryptor, infra.clock
        )
        now = infra.clock()
        async with infra.sessionmaker() as session, session.begin():
            row = await keyring.rotate(
                session,
                settings.signing_alg,
                encryptor,
                now,
                keyring.max_token_age(settings),
                timedelta(seconds=settings.signing_key_publish_seconds),
            )
            kid, starts = row.kid, row.activated_at or now
        # Every process loads the new key set now, not at its poll.
        await publish_change(infra.redis_url, settings.redis_prefix + REDIS_CHANNEL_NAME)
        return kid, starts, now
    finally:
        await infra.engine.dispose()
