"""API credentials: create, list, revoke, rotate, and change their policies (issue 21).
Services flush; the request's unit of work commits (``kit.uow``), and a revocation, rotation or
policy change is applied in every process once it did (``identity.feed.note_change``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fluide.catalog import ALL_SCOPES
from fluide.identity import audit, formats, policy
from fluide.identity.audit import Actor
from fluide.identity.errors import CredentialRevoked, InsufficientScope, TokenRevoked
from fluide.identity.feed import note_change
from fluide.identity.hashing import SecretHasher
from fluide.identity.models import Credential, RevocationEvent, Tenant
from fluide.identity.principal import scopes_for_kind
from fluide.kit.clock import Clock, system_clock
from fluide.kit.errors import NotFound, ValidationFailed
from fluide.kit.ids import new_id
from fluide.kit.pagination import PageParams
from fluide.kit.queries import contains_text

ENVIRONMENTS = ("sandbox", "production")
MAX_GRACE_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class IssuedCredential:
    credential: Credential
    api_secret: str  # shown once, never stored

    def __repr__(self) -> str:
        return f"IssuedCredential(credential_id={self.credential.id!r}, api_secret=***)"


@dataclass(frozen=True)
class Rotation:
    credential: Credential
    api_secret: str
    rotated_at: datetime
    previous_secret_expires_at: datetime | None

    def __repr__(self) -> str:
        return f"Rotation(credential_id={self.credential.id!r}, api_secret=***)"


_UNSET: Any = object()


@dataclass(frozen=True)
class PolicyChange:
    """What to change of a credential's policy: a field left ``_UNSET`` stays as it is,
    ``None`` lifts the restriction (scopes: ``None`` is every scope)."""

    expires_at: datetime | None = _UNSET
    allowed_cidrs: list[str] | None = _UNSET
    rate_limit: str | None = _UNSET
    scopes: list[str] | str | None = _UNSET

    def validated(self, now: datetime, allowed: tuple[str, ...] = ALL_SCOPES) -> PolicyChange:
        """The same change in stored form (``allowed``: the scopes the tenant's kind may hold);
        ValidationFailed names every bad field."""
        out: dict[str, Any] = {}
        errors: dict[str, list[str]] = {}
        checks: list[tuple[str, Any, Any]] = [
            ("expires_at", self.expires_at, lambda v: policy.parse_expiry(v, now)),
            ("allowed_cidrs", self.allowed_cidrs, policy.parse_cidrs),
            ("rate_limit", self.rate_limit, policy.parse_rate_limit),
            ("scopes", self.scopes, lambda v: parse_scopes(v, allowed)),
        ]
        for name, value, parse in checks:
            if value is _UNSET:
                continue
            try:
                out[name] = parse(value)
            except ValidationFailed as exc:
                errors.update(exc.errors or {})
        if errors:
            raise ValidationFailed(errors=errors)
        return PolicyChange(**out)

    def apply(self, cred: Credential) -> None:
        if self.expires_at is not _UNSET:
            cred.expires_at = self.expires_at
            cred.expiry_audited_at = None
        if self.allowed_cidrs is not _UNSET:
            cred.allowed_cidrs = policy.dump_cidrs(self.allowed_cidrs)
        if self.rate_limit is not _UNSET:
            cred.rate_limit = self.rate_limit
        if self.scopes is not _UNSET:
            assert isinstance(self.scopes, str)
            cred.scopes = self.scopes

    def details(self) -> dict[str, Any]:
        """For the audit row: what changed, in wire names."""
        names = {
            "expires_at": "expiresAt",
            "allowed_cidrs": "allowedCidrs",
            "rate_limit": "rateLimit",
            "scopes": "scopes",
        }
        out: dict[str, Any] = {}
        for name, wire in names.items():
            value = getattr(self, name)
            if value is not _UNSET:
                out[wire] = value.isoformat() if isinstance(value, datetime) else value
        return out


def _policy_event(session: AsyncSession, cred: Credential) -> None:
    session.add(
        RevocationEvent(kind="policy", subject=cred.id, value=None, created_at=system_clock())
    )
    note_change(session, cred.api_key)


async def tenant_kind(session: AsyncSession, tenant_id: str) -> str:
    """``PARTNER`` or ``BUSINESS``; an unknown tenant is a business (the fewer scopes)."""
    kind = await session.scalar(select(Tenant.kind).where(Tenant.id == tenant_id))
    return "PARTNER" if kind == "PARTNER" else "BUSINESS"


def parse_scopes(scopes: list[str] | str | None, allowed: tuple[str, ...] = ALL_SCOPES) -> str:
    if scopes is None:
        return " ".join(allowed)
    items = scopes.split() if isinstance(scopes, str) else list(scopes)
    unknown = sorted(set(items) - set(allowed))
    if unknown:
        raise ValidationFailed(errors={"scopes": [f"unknown scope: {s}" for s in unknown]})
    if not items:
        raise ValidationFailed(errors={"scopes": ["at least one scope is required"]})
    return " ".join(s for s in allowed if s in items)


async def list_for_tenant(
    session: AsyncSession, tenant_id: str, params: PageParams
) -> tuple[list[Credential], int]:
    query = select(Credential).where(Credential.tenant_id == tenant_id)
    if params.q:
        query = query.where(
            contains_text(Credential.name, params.q) | contains_text(Credential.api_key, params.q)
        )
    total = int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = await session.scalars(
        query.order_by(Credential.created_at.desc()).offset(params.offset).limit(params.limit)
    )
    return list(rows.all()), total


async def get_for_tenant(
    session: AsyncSession, tenant_id: str, credential_id: str, *, for_update: bool = False
) -> Credential:
    query = select(Credential).where(
        Credential.id == credential_id, Credential.tenant_id == tenant_id
    )
    if for_update:
        query = query.with_for_update()
    cred = await session.scalar(query)
    if cred is None:
        raise NotFound("Credential not found")
    return cred


class Credentials:
    """Issues, revokes and rotates credentials (secrets digested by ``hasher``)."""

    def __init__(self, hasher: SecretHasher, clock: Clock) -> None:
        self.hasher = hasher
        self.clock = clock

    async def create(
        self,
        session: AsyncSession,
        actor: Actor,
        *,
        tenant_id: str,
        account_id: str,
        name: str,
        environment: str = "sandbox",
        scopes: list[str] | str | None = None,
        policy: PolicyChange | None = None,
    ) -> IssuedCredential:
        """A new credential; ``policy`` (issue 21) restricts it from its first exchange."""
        if environment not in ENVIRONMENTS:
            raise ValidationFailed(errors={"environment": [f"one of {', '.join(ENVIRONMENTS)}"]})
        secret = formats.new_api_secret()
        now = self.clock()
        allowed = scopes_for_kind(await tenant_kind(session, tenant_id))
        change = (policy or PolicyChange()).validated(now, allowed)
        cred = Credential(
            id=new_id("cred"),
            tenant_id=tenant_id,
            account_id=account_id,
            name=name,
            environment=environment,
            api_key=formats.new_api_key(),
            scopes=parse_scopes(scopes, allowed),
            status="active",
            secret_hash=self.hasher.digest(secret),
            generation=1,
            min_token_generation=1,
            created_at=now,
            secret_rotated_at=None,
        )
        change.apply(cred)
        session.add(cred)
        audit.record(
            session,
            self.clock,
            actor,
            "credential.create",
            tenant_id=tenant_id,
            credential_id=cred.id,
            details={"name": name, "environment": environment, **change.details()},
        )
        # Every process learns the new credential's policy from the change feed.
        _policy_event(session, cred)
        await session.flush()
        return IssuedCredential(cred, secret)

    async def set_policy(
        self, session: AsyncSession, actor: Actor, cred: Credential, change: PolicyChange
    ) -> Credential:
        """Change a credential's policy (``change``: only the fields it names). Applied in
        this process before the answer and in every other within a second, as a revocation."""
        if cred.status != "active":
            raise CredentialRevoked
        allowed = scopes_for_kind(await tenant_kind(session, cred.tenant_id))
        change = change.validated(self.clock(), allowed)
        change.apply(cred)
        audit.record(
            session,
            self.clock,
            actor,
            "credential.policy",
            tenant_id=cred.tenant_id,
            credential_id=cred.id,
            details=change.details(),
        )
        _policy_event(session, cred)
        await session.flush()
        return cred

    async def revoke(self, session: AsyncSession, actor: Actor, cred: Credential) -> Credential:
        if cred.status == "revoked":
            return cred
        now = self.clock()
        cred.status, cred.revoked_at = "revoked", now
        session.add(
            RevocationEvent(
                kind="credential_status",
                subject=cred.id,
                value="revoked",
                created_at=system_clock(),
            )
        )
        audit.record(
            session,
            self.clock,
            actor,
            "credential.revoke",
            tenant_id=cred.tenant_id,
            credential_id=cred.id,
        )
        note_change(session, cred.api_key)
        await session.flush()
        return cred

    async def rotate_secret(
        self,
        session: AsyncSession,
        actor: Actor,
        *,
        tenant_id: str,
        credential_id: str,
        grace_seconds: int,
        caller_generation: int | None = None,
        caller_scopes: frozenset[str] | None = None,
    ) -> Rotation:
        """Replace the secret. Grace 0: the old secret stops now and every earlier token is
        revoked.

        Grace > 0: the old secret keeps exchanging until ``previousSecretExpiresAt`` and tokens
        already minted live to their ``exp``. The row is locked, so concurrent rotations
        serialise; a caller whose own token was revoked by a rotation that won the race is
        refused.

        ``caller_scopes`` (a token's, from the developer session): the token must carry every
        scope of the credential as it is now, in this transaction, or 403 ``INSUFFICIENT_SCOPE``
        naming the first one missing: a narrowed token must not mint itself a new, full secret.
        """
        if not 0 <= grace_seconds <= MAX_GRACE_SECONDS:
            raise ValidationFailed(errors={"graceSeconds": [f"between 0 and {MAX_GRACE_SECONDS}"]})
        cred = await get_for_tenant(session, tenant_id, credential_id, for_update=True)
        if cred.status != "active":
            raise CredentialRevoked
        if caller_generation is not None and caller_generation < cred.min_token_generation:
            raise TokenRevoked
        if caller_scopes is not None:
            missing = [s for s in cred.scopes.split() if s not in caller_scopes]
            if missing:
                raise InsufficientScope(missing[0])
        now = self.clock()
        secret = formats.new_api_secret()
        self._replace_secret(session, cred, secret, grace_seconds, now)
        audit.record(
            session,
            self.clock,
            actor,
            "credential.rotate_secret",
            tenant_id=tenant_id,
            credential_id=cred.id,
            details={"graceSeconds": grace_seconds, "generation": cred.generation},
        )
        note_change(session, cred.api_key)
        await session.flush()
        return Rotation(cred, secret, now, cred.previous_secret_expires_at)

    def _replace_secret(
        self,
        session: AsyncSession,
        cred: Credential,
        secret: str,
        grace_seconds: int,
        now: datetime,
    ) -> None:
        if grace_seconds > 0:
            cred.previous_secret_hash = cred.secret_hash
            cred.previous_secret_expires_at = now + timedelta(seconds=grace_seconds)
        else:
            cred.previous_secret_hash = None
            cred.previous_secret_expires_at = None
        cred.secret_hash = self.hasher.digest(secret)
        cred.generation += 1
        cred.secret_rotated_at = now
        if grace_seconds == 0:
            cred.min_token_generation = cred.generation
            session.add(
                RevocationEvent(
                    kind="generation",
                    subject=cred.id,
                    value=str(cred.generation),
                    created_at=system_clock(),
                )
            )
