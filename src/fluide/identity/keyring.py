"""Signing keys: the rotation state machine in the database and the in-memory key set.

States: ``next`` (published in the JWKS, not yet signing) → ``active`` (signs) →
``retired`` (published until every token it signed has expired) → ``removed``.
A rotation promotes the key that has been published since the previous rotation,
so JWKS caches always know a key before it signs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from jwt.api_jwk import PyJWK
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fluide.identity import jwt_core
from fluide.identity.models import RevocationEvent, SigningKeyRow
from fluide.kit.clock import Clock, system_clock
from fluide.settings import Settings

PUBLISHED = ("next", "active", "retired")
# PostgreSQL advisory lock that serialises first-key creation across processes and hosts.
KEY_SETUP_LOCK = 0x666C7569


@dataclass
class KeySet:
    """What one process holds in memory: verify keys, the signing key and the JWKS body."""

    verify_keys: dict[str, jwt_core.VerifyKey] = field(default_factory=dict)
    signing_key: jwt_core.SigningKey | None = None
    jwks: dict[str, Any] = field(default_factory=lambda: {"keys": []})


def _new_row(
    alg: str, state: str, encryptor: jwt_core.KeyEncryptor, now: datetime
) -> SigningKeyRow:
    private = jwt_core.generate_private_key(alg)
    kid = jwt_core.new_kid(private.public_key())
    return SigningKeyRow(
        kid=kid,
        alg=alg,
        state=state,
        public_jwk=jwt_core.public_jwk(kid, alg, private.public_key()),
        private_key_encrypted=encryptor.encrypt(kid, jwt_core.private_pem(private)),
        created_at=now,
        activated_at=now if state == "active" else None,
    )


def _changed(session: AsyncSession, now: datetime) -> None:
    session.add(RevocationEvent(kind="signing_keys", subject="*", created_at=system_clock()))


async def ensure_keys(
    session: AsyncSession, alg: str, encryptor: jwt_core.KeyEncryptor, now: datetime
) -> bool:
    """First start: an active key and a published next key. Returns True if it created any."""
    rows = (
        await session.scalars(
            select(SigningKeyRow).where(SigningKeyRow.state.in_(("next", "active")))
        )
    ).all()
    states = {r.state for r in rows}
    created = False
    if "active" not in states:
        session.add(_new_row(alg, "active", encryptor, now))
        created = True
    if "next" not in states:
        session.add(_new_row(alg, "next", encryptor, now))
        created = True
    if created:
        _changed(session, now)
        await session.flush()
    return created


async def ensure_signing_keys(
    sessionmaker: async_sessionmaker[AsyncSession],
    alg: str,
    encryptor: jwt_core.KeyEncryptor,
    clock: Clock,
) -> None:
    """Create the first active and next keys if missing, once even when hosts start together.

    Without the lock, two processes starting on an empty PostgreSQL database could both see
    no key and both create an active one (SQLite's ``BEGIN IMMEDIATE`` already serialises).
    """
    async with sessionmaker() as session, session.begin():
        if session.get_bind().dialect.name == "postgresql":
            await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": KEY_SETUP_LOCK})
        await ensure_keys(session, alg, encryptor, clock())


def max_token_age(settings: Settings) -> timedelta:
    """How long a token can be accepted after it was signed (its lifetime and the leeway)."""
    return timedelta(seconds=settings.token_ttl_seconds + settings.token_leeway_seconds)


async def rotate(
    session: AsyncSession,
    alg: str,
    encryptor: jwt_core.KeyEncryptor,
    now: datetime,
    max_token_age: timedelta,
    publish_for: timedelta = timedelta(0),
) -> SigningKeyRow:
    """next → active, active → retired, a fresh next; prune retired keys past every token's exp."""
    rows = (
        await session.scalars(
            select(SigningKeyRow).where(SigningKeyRow.state.in_(PUBLISHED)).with_for_update()
        )
    ).all()
    nxt = next((r for r in rows if r.state == "next"), None)
    if nxt is None or now - nxt.created_at < publish_for:
        raise RotationTooSoon
    for row in rows:
        if row.state == "active":
            row.state, row.retired_at = "retired", now
    nxt.state, nxt.activated_at = "active", now
    session.add(_new_row(alg, "next", encryptor, now))
    await prune(session, now, max_token_age, rows)
    _changed(session, now)
    await session.flush()
    return nxt


class RotationTooSoon(Exception):
    """The next key has not been published long enough to sign."""


class NoSuchKey(LookupError):
    """No signing key has this kid."""


class KeyIsSigning(Exception):
    """The active key cannot be revoked: rotate first (a service needs a key to sign with)."""


async def revoke(session: AsyncSession, kid: str, now: datetime) -> str:
    """Stop publishing a ``next`` or ``retired`` key at once (docs/deploy.md §7, a leaked key):
    ``removed``, its private key erased, every process nudged by the change feed. Tokens it
    signed fail verification from then on. Returns the state it had (``removed``: nothing
    done)."""
    row = await session.scalar(
        select(SigningKeyRow).where(SigningKeyRow.kid == kid).with_for_update()
    )
    if row is None:
        raise NoSuchKey(kid)
    before = row.state
    if before == "active":
        raise KeyIsSigning(kid)
    if before != "removed":
        row.state, row.removed_at = "removed", now
        row.private_key_encrypted = b""
        _changed(session, now)
        await session.flush()
    return before


async def prune(
    session: AsyncSession, now: datetime, max_token_age: timedelta, rows: Any = None
) -> int:
    if rows is None:
        rows = (
            await session.scalars(select(SigningKeyRow).where(SigningKeyRow.state == "retired"))
        ).all()
    removed = 0
    for row in rows:
        if (
            row.state == "retired"
            and row.retired_at is not None
            and row.retired_at + max_token_age < now
        ):
            row.state, row.removed_at = "removed", now
            row.private_key_encrypted = b""  # nothing left to steal
            removed += 1
    return removed


async def list_keys(session: AsyncSession) -> list[SigningKeyRow]:
    return list(
        (await session.scalars(select(SigningKeyRow).order_by(SigningKeyRow.created_at))).all()
    )


async def load_keyset(session: AsyncSession, encryptor: jwt_core.KeyEncryptor) -> KeySet:
    rows = (
        await session.scalars(
            select(SigningKeyRow)
            .where(SigningKeyRow.state.in_(PUBLISHED))
            .order_by(SigningKeyRow.created_at)
        )
    ).all()
    keyset = KeySet()
    active = [r for r in rows if r.state == "active"]
    for row in rows:
        public = PyJWK.from_dict(row.public_jwk).key
        keyset.verify_keys[row.kid] = jwt_core.VerifyKey(row.kid, row.alg, public)
        keyset.jwks["keys"].append(row.public_jwk)
    if active:
        newest = max(active, key=lambda r: r.activated_at or r.created_at)
        pem = encryptor.decrypt(newest.kid, newest.private_key_encrypted)
        keyset.signing_key = jwt_core.SigningKey(
            newest.kid, newest.alg, jwt_core.load_private_pem(pem)
        )
    return keyset
