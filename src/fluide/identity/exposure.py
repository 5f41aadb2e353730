"""Check 1's second half: a live API secret seen on any route but the exchange flags its
credential (the gateway's middleware refuses the request and asks here, ``gateway.middleware``).

The request is refused (400 ``API_SECRET_NOT_ALLOWED``) whatever happens here. When the value
is a well-formed secret and verifies against the current (or in-grace previous) secret of the
credential named by ``X-Fluide-Api-Key`` or by the presented token, the credential gets
``secret_exposed_at`` and an audit row. The value itself is never stored, logged or echoed.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fluide.identity import audit, formats, jwt_core
from fluide.identity.audit import Actor
from fluide.identity.hashing import SecretHasher
from fluide.identity.models import Credential
from fluide.identity.principal import bearer_token
from fluide.identity.state import IdentityState
from fluide.kit.clock import Clock, as_utc
from fluide.kit.errors import AppError

log = logging.getLogger("fluide.gateway")


def matches_live_secret(
    hasher: SecretHasher, cred: Credential, secret: str, now: datetime
) -> str | None:
    """Which live secret ``secret`` is ("current" / "previous"), or None: the exchange's own
    decision (``SecretHasher.live_secret``), so what flags is exactly what exchanges."""
    return hasher.live_secret(hasher.digest(secret), cred, lambda: now)


def already_flagged(cred: Credential) -> bool:
    """Flagged since the last rotation: a later rotation makes a new exposure news again."""
    if cred.secret_exposed_at is None:
        return False
    if cred.secret_rotated_at is None:
        return True
    return as_utc(cred.secret_exposed_at) >= as_utc(cred.secret_rotated_at)


class Exposure:
    """Finds the credentials a request names (its API key, its token's) and flags those whose
    live secret it carries, in a transaction of its own (``sessionmaker``)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        hasher: SecretHasher,
        clock: Clock,
        state: IdentityState,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.hasher = hasher
        self.clock = clock
        self.state = state

    def candidate_keys(self, api_key: str | None, authorization: str | None) -> list[str]:
        keys = []
        if api_key and formats.is_api_key(api_key):
            keys.append(api_key)
        state = self.state
        try:
            claims = jwt_core.verify(
                bearer_token(authorization),
                state.keyset.verify_keys,
                issuer=state.issuer,
                audience=state.audience,
                now=self.clock().timestamp(),
                leeway=state.leeway,
            )
        except (AppError, jwt_core.TokenError):
            return keys
        if claims["api_key"] not in keys:
            keys.append(claims["api_key"])
        return keys

    async def flag(self, actor: Actor, keys: list[str], secret: str, path: str) -> list[str]:
        """Flag and audit each credential among ``keys`` whose live secret is ``secret``."""
        if not keys or not formats.is_api_secret(secret):
            return []
        flagged: list[str] = []
        now = self.clock()
        async with self.sessionmaker() as session, session.begin():
            creds = (
                await session.scalars(
                    select(Credential).where(Credential.api_key.in_(keys)).with_for_update()
                )
            ).all()
            for cred in creds:
                which = matches_live_secret(self.hasher, cred, secret, now)
                if which is None or already_flagged(cred):
                    continue
                cred.secret_exposed_at = now
                audit.record(
                    session,
                    self.clock,
                    actor,
                    "credential.secret_exposed",
                    outcome="denied",
                    code="API_SECRET_NOT_ALLOWED",
                    tenant_id=cred.tenant_id,
                    credential_id=cred.id,
                    details={"secret": which, "header": "X-Fluide-Api-Secret", "path": path[:200]},
                )
                flagged.append(cred.id)
        if flagged:
            log.warning("api secret sent outside the exchange", extra={"credentials": flagged})
        return flagged
