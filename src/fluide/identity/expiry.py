"""The "credential.expire" audit event (issue 21): written once per expiry, by whichever process
marks the credential first (a conditional update), soon after the expiry passes.

The check is in memory first (the policies in the revocation view): a database write happens
only when a credential this process knows of has passed its expiry and was not marked yet.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fluide.identity import audit
from fluide.identity.models import Credential
from fluide.identity.revocation import RevocationView
from fluide.kit.clock import Clock


class ExpiryAuditor:
    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], view: RevocationView, clock: Clock
    ) -> None:
        self.sessionmaker = sessionmaker
        self.view = view
        self.clock = clock
        self._done: dict[str, float] = {}  # credential id → the expiry it was audited for

    def due(self, now: float) -> list[tuple[str, float]]:
        return [
            (cid, p.expires_at)
            for cid, p in self.view.policies.items()
            if p.expires_at is not None
            and p.expires_at <= now
            and self._done.get(cid) != p.expires_at
        ]

    async def run(self) -> int:
        """Audit what expired; return how many events this process wrote."""
        now = self.clock()
        due = self.due(now.timestamp())
        if not due:
            return 0
        written = 0
        async with self.sessionmaker() as session, session.begin():
            for cid, expires_at in due:
                result = await session.execute(
                    update(Credential)
                    .where(
                        Credential.id == cid,
                        Credential.expires_at <= now,
                        Credential.expiry_audited_at.is_(None),
                    )
                    .values(expiry_audited_at=now)
                    .returning(Credential.tenant_id, Credential.expires_at)
                )
                row = result.first()
                self._done[cid] = expires_at
                if row is None:
                    continue  # another process did, or the expiry moved
                audit.record(
                    session,
                    self.clock,
                    audit.SYSTEM,
                    "credential.expire",
                    tenant_id=row.tenant_id,
                    credential_id=cid,
                    details={"expiresAt": row.expires_at.isoformat()},
                )
                written += 1
        if len(self._done) > 10_000:
            self._done = {c: e for c, e in self._done.items() if c in self.view.policies}
        return written
