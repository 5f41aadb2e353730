"""The in-memory revocation view every process keeps (DESIGN §3.5: the hot path reads no database).

It is built from the tables at start, then kept fresh from the ``revocation_events`` feed:
every process polls it (≤ 1 s) and, when Redis is configured, is nudged to poll at once.
Events are idempotent, so re-reading a recent window is harmless; that window covers
PostgreSQL sequence values that commit out of order.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from fluide.catalog import ALL_SCOPES
from fluide.identity.models import Credential, IssuedToken, RevocationEvent
from fluide.identity.policy import CredentialPolicy
from fluide.kit.clock import system_clock

REREAD_WINDOW = timedelta(seconds=30)
_POLICY_COLUMNS = (
    Credential.id,
    Credential.expires_at,
    Credential.allowed_cidrs,
    Credential.rate_limit,
    Credential.scopes,
)
# A credential has a policy the guard must hold when any of these is true.
_HAS_POLICY = or_(
    Credential.expires_at.is_not(None),
    Credential.allowed_cidrs.is_not(None),
    Credential.rate_limit.is_not(None),
    Credential.scopes != " ".join(ALL_SCOPES),
)


_ALL = frozenset(ALL_SCOPES)
TENANCY_EVENT = "tenancy"  # a partner workspace or company changed (``identity.tenancy``)


@dataclass
class RevocationView:
    revoked_jtis: dict[str, float] = field(default_factory=dict)  # jti → exp (epoch seconds)
    min_generation: dict[str, int] = field(default_factory=dict)  # credential id → min gen
    inactive_credentials: dict[str, str] = field(default_factory=dict)  # credential id → status
    # credential id → its policy (issue 21), only for credentials that have one; a "policy"
    # event makes ``poll`` read that credential's again.
    policies: dict[str, CredentialPolicy] = field(default_factory=dict)
    last_event_id: int = 0
    _policy_events: set[int] = field(default_factory=set)  # ids of "policy" events applied
    keys_changed: bool = False
    exposures: int = 0
    # ``tenancy`` events (partner workspaces and companies): the ids seen in the last poll, and
    # whether one not seen before appeared (the feed then reloads ``TenancyView``). Ids, not
    # ``fresh``: a PostgreSQL sequence value that commits late is still noticed.
    tenancy_seen: frozenset[int] = frozenset()
    tenancy_changed: bool = False

    def is_token_revoked(self, jti: str, credential_id: str, generation: int) -> bool:
        if jti in self.revoked_jtis:
            return True
        return generation < self.min_generation.get(credential_id, 0)

    def credential_status(self, credential_id: str) -> str:
        return self.inactive_credentials.get(credential_id, "active")

    async def load(self, session: AsyncSession) -> None:
        now = system_clock()
        self.last_event_id = int(
            await session.scalar(
                select(RevocationEvent.id).order_by(RevocationEvent.id.desc()).limit(1)
            )
            or 0
        )
        revoked = await session.execute(
            select(IssuedToken.jti, IssuedToken.expires_at).where(
                IssuedToken.revoked_at.is_not(None), IssuedToken.expires_at > now
            )
        )
        self.revoked_jtis = {jti: exp.timestamp() for jti, exp in revoked}
        creds = await session.execute(
            select(Credential.id, Credential.min_token_generation, Credential.status).where(
                or_(Credential.min_token_generation > 1, Credential.status != "active")
            )
        )
        self.min_generation, self.inactive_credentials = {}, {}
        for cid, gen, status in creds:
            if gen > 1:
                self.min_generation[cid] = gen
            if status != "active":
                self.inactive_credentials[cid] = status
        rows = await session.execute(select(*_POLICY_COLUMNS).where(_HAS_POLICY))
        self.policies = {row.id: CredentialPolicy.of(row) for row in rows}

    async def poll(self, session: AsyncSession) -> bool:
        """Apply new events; return True when signing keys changed (the caller reloads them)."""
        since = system_clock() - REREAD_WINDOW
        rows = (
            await session.execute(
                select(
                    RevocationEvent.id,
                    RevocationEvent.kind,
                    RevocationEvent.subject,
                    RevocationEvent.value,
                    RevocationEvent.expires_at,
                )
                .where(
                    or_(
                        RevocationEvent.id > self.last_event_id, RevocationEvent.created_at >= since
                    )
                )
                .order_by(RevocationEvent.id)
            )
        ).all()
        keys_changed = False
        policy_changed: set[str] = set()
        tenancy: set[int] = set()
        for eid, kind, subject, value, expires_at in rows:
            fresh = eid > self.last_event_id
            self.last_event_id = max(self.last_event_id, eid)
            if kind == "token":
                exp = expires_at.timestamp() if expires_at else time.time() + 86400
                self.revoked_jtis[subject] = exp
            elif kind == "generation" and value is not None:
                self.min_generation[subject] = max(self.min_generation.get(subject, 0), int(value))
            elif kind == "credential_status" and value is not None:
                if value == "active" and self.inactive_credentials.get(subject) != "revoked":
                    self.inactive_credentials.pop(subject, None)
                elif value != "active":
                    self.inactive_credentials[subject] = value
            elif kind == "signing_keys" and fresh:
                keys_changed = True
            elif kind == "policy" and eid not in self._policy_events:
                # Not ``fresh``: on PostgreSQL an event may commit after a later id was read.
                self._policy_events.add(eid)
                policy_changed.add(subject)
            elif kind == TENANCY_EVENT:
                tenancy.add(eid)
        if policy_changed:
            await self._reload_policies(session, policy_changed)
        if not tenancy <= self.tenancy_seen:
            self.tenancy_changed = True
        self.tenancy_seen = frozenset(tenancy)
        self._prune()
        return keys_changed

    async def _reload_policies(self, session: AsyncSession, ids: set[str]) -> None:
        rows = await session.execute(select(*_POLICY_COLUMNS).where(Credential.id.in_(ids)))
        found = {row.id: CredentialPolicy.of(row) for row in rows}
        for cid in ids:
            policy = found.get(cid)
            if policy is None or (not policy.restricts and policy.scopes == _ALL):
                self.policies.pop(cid, None)
            else:
                self.policies[cid] = policy

    def _prune(self) -> None:
        if len(self._policy_events) >= 4096:
            # Older ids are out of the reread window; a forgotten one is read again, harmlessly.
            self._policy_events = set(sorted(self._policy_events)[-1024:])
        if len(self.revoked_jtis) < 1024:
            return
        cutoff = time.time() - 3600
        self.revoked_jtis = {j: e for j, e in self.revoked_jtis.items() if e > cutoff}
