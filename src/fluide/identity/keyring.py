"""Signing keys: the rotation state machine in the database and the in-memory key set.

States: ``next`` (published in the JWKS, not yet signing) → ``active`` (signs) →
``retired`` (published until every token it signed has expired) → ``removed``.
A rotation promotes the key that has been published since the previous rotation, and a key
signs only once it has been published for ``signing_key_publish_seconds`` (at least the JWKS
max-age and a margin), so a verifier's cached JWKS always holds the key of any token it gets.
A rotation asked sooner is scheduled: the promoted key's ``activated_at`` (and the old key's
``retired_at``) is then in the future, and each process switches keys at that instant by its
clock (``KeySet.signing_key_at``), with no reload. The one exception is the very first start:
its active and next keys are in every JWKS ever served, so nothing can have cached a set
without them.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

import orjson
from jwt.api_jwk import PyJWK
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fluide.identity import jwt_core
from fluide.identity.models import RevocationEvent, SigningKeyRow
from fluide.kit.clock import Clock, system_clock
from fluide.settings import MIN_KEY_PUBLISH_SECONDS, Settings

PUBLISHED = ("next", "active", "retired")
# PostgreSQL advisory lock that serialises first-key creation across processes and hosts.
KEY_SETUP_LOCK = 0x666C7569


@dataclass
class KeySet:
    """What one process holds in memory: verify keys, the signing key and the JWKS body."""

    verify_keys: dict[str, jwt_core.VerifyKey] = field(default_factory=dict)
    # (POSIX time it signs from, key), newest first: the current signer and a scheduled one.
    signers: tuple[tuple[float, jwt_core.SigningKey], ...] = ()
    jwks: dict[str, Any] = field(default_factory=lambda: {"keys": []})

    def signing_key_at(self, now: float) -> jwt_core.SigningKey | None:
        """The key that signs at ``now``: the newest whose start has come (None: none)."""
        for since, key in self.signers:
            if since <= now:
                return key
        return None

    @property
    def signing_key(self) -> jwt_core.SigningKey | None:
        """The key signing now, by the system clock (readiness, tests)."""
        return self.signing_key_at(time.time())

    @cached_property
    def jwks_document(self) -> tuple[bytes, str]:
        """The JWKS body and its strong ``ETag``, once per key set (a key change replaces the
        set whole; ``load_keyset`` fills it before anyone reads this)."""
        body = orjson.dumps(self.jwks)
        return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


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
    """First start: an active key and a published next key. Returns True if it changed any.

    Only a first start (no key row at all) creates a key that signs at once. Without an active
    key later (a hand-edited table), the published next key is promoted when it has been
    published long enough, and a fresh key signs only after ``MIN_KEY_PUBLISH_SECONDS``.
    """
    rows = (
        await session.scalars(
            select(SigningKeyRow).where(SigningKeyRow.state.in_(("next", "active")))
        )
    ).all()
    states = {r.state for r in rows}
    created = False
    if "active" not in states:
        nxt = next((r for r in rows if r.state == "next"), None)
        if nxt is not None:
            publish = timedelta(seconds=MIN_KEY_PUBLISH_SECONDS)
            nxt.state, nxt.activated_at = "active", await signs_from(session, nxt, now, publish)
            states.discard("next")
        else:
            row = _new_row(alg, "active", encryptor, now)
            if await session.scalar(select(func.count()).select_from(SigningKeyRow)):
                row.activated_at = _second_up(now + timedelta(seconds=MIN_KEY_PUBLISH_SECONDS))
            session.add(row)
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


async def signs_from(
    session: AsyncSession, key: SigningKeyRow, now: datetime, publish_for: timedelta
) -> datetime:
    """When ``key`` may sign: ``publish_for`` after it was published (never sooner than
    ``MIN_KEY_PUBLISH_SECONDS``), or now if it was in the very first key set.

    The first start writes two rows, the active key and the next one; every later key has at
    least those two rows no newer than itself (rows are never deleted, only ``removed``).
    """
    publish_for = max(publish_for, timedelta(seconds=MIN_KEY_PUBLISH_SECONDS))
    others = await session.scalar(
        select(func.count())
        .select_from(SigningKeyRow)
        .where(SigningKeyRow.created_at <= key.created_at, SigningKeyRow.kid != key.kid)
    )
    if (others or 0) <= 1:
        return now
    return max(now, _second_up(key.created_at + publish_for))


def _second_up(when: datetime) -> datetime:
    """A scheduled start is a whole second (JWT times are; ``load_keyset`` floors starts)."""
    return when.replace(microsecond=0) + timedelta(seconds=1) if when.microsecond else when


async def rotate(
    session: AsyncSession,
    alg: str,
    encryptor: jwt_core.KeyEncryptor,
    now: datetime,
    max_token_age: timedelta,
    publish_for: timedelta = timedelta(seconds=MIN_KEY_PUBLISH_SECONDS),
) -> SigningKeyRow:
    """next → active, active → retired, a fresh next; prune retired keys past every token's exp.

    The promoted key's ``activated_at`` is when it starts signing (``signs_from``; later than
    ``now`` if it was published too recently) and the keys it replaces sign until then.
    """
    rows = (
        await session.scalars(
            select(SigningKeyRow).where(SigningKeyRow.state.in_(PUBLISHED)).with_for_update()
        )
    ).all()
    nxt = next((r for r in rows if r.state == "next"), None)
    if nxt is None:
        raise NoNextKey
    starts = await signs_from(session, nxt, now, publish_for)
    for row in rows:
        if row.state == "active":
            starts = max(starts, row.activated_at or starts)
    for row in rows:
        if row.state == "active":
            row.state, row.retired_at = "retired", starts
    nxt.state, nxt.activated_at = "active", starts
    session.add(_new_row(alg, "next", encryptor, now))
    await prune(session, now, max_token_age, rows)
    _changed(session, now)
    await session.flush()
    return nxt


class NoNextKey(LookupError):
    """No published next key to promote (``ensure_keys`` creates one first)."""


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
    if before == "active" or (
        before == "retired" and row.retired_at is not None and row.retired_at > now
    ):
        raise KeyIsSigning(
            kid
        )  # an active key, or a retired one that signs until a rotation starts
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


async def load_keyset(
    session: AsyncSession, encryptor: jwt_core.KeyEncryptor, now: datetime | None = None
) -> KeySet:
    """Every published key verifies; the keys that sign now or from a scheduled rotation on
    are decrypted, newest start first (a retired key whose signing ended is not)."""
    now = now or system_clock()
    rows = (
        await session.scalars(
            select(SigningKeyRow)
            .where(SigningKeyRow.state.in_(PUBLISHED))
            .order_by(SigningKeyRow.created_at)
        )
    ).all()
    keyset = KeySet()
    signers: list[tuple[float, jwt_core.SigningKey]] = []
    for row in rows:
        public = PyJWK.from_dict(row.public_jwk).key
        keyset.verify_keys[row.kid] = jwt_core.VerifyKey(row.kid, row.alg, public)
        keyset.jwks["keys"].append(row.public_jwk)
        if row.state == "active" or (
            row.state == "retired" and row.retired_at is not None and row.retired_at > now
        ):
            pem = encryptor.decrypt(row.kid, row.private_key_encrypted)
            key = jwt_core.SigningKey(row.kid, row.alg, jwt_core.load_private_pem(pem))
            # Floored: a signer asking with whole seconds (a JWT's ``iat``) finds the key from
            # the second it starts in; a scheduled start is itself a whole second.
            since = math.floor((row.activated_at or row.created_at).timestamp())
            signers.append((float(since), key))
    keyset.signers = tuple(sorted(signers, key=lambda s: s[0], reverse=True))
    return keyset
