"""The token exchange (DESIGN §3.2): an API key and its secret for a short-lived access token.

No request session: reads go through the per-process credential snapshot
(``identity.credential_cache``) and, for anything it cannot accept, the database; writes (the
issued token and its audit row, or a denial's audit row) through group commit
(``kit.group_commit``), so nothing is handed out that is not durable.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from fluide.identity import audit, formats
from fluide.identity.audit import Actor
from fluide.identity.credential_cache import CachedCredential
from fluide.identity.errors import (
    ClientIdInvalid,
    CredentialRevoked,
    DeveloperKeysInvalid,
    EmailNotVerified,
)
from fluide.identity.exchange.limits import ExchangeLimits
from fluide.identity.hashing import SecretHasher
from fluide.identity.models import Account, AuditEvent, Credential, IssuedToken
from fluide.identity.policy import CredentialPolicy
from fluide.identity.state import IdentityState
from fluide.identity.tokens import ExchangeResult, Tokens, issued_token_row
from fluide.kit.clock import Clock
from fluide.kit.errors import AppError, ValidationFailed
from fluide.kit.group_commit import GroupCommitter
from fluide.kit.ratelimit import RateLimiter
from fluide.settings import Settings

_CRED_COLUMNS = (
    Credential.id,
    Credential.tenant_id,
    Credential.api_key,
    Credential.scopes,
    Credential.status,
    Credential.generation,
    Credential.secret_hash,
    Credential.previous_secret_hash,
    Credential.previous_secret_expires_at,
    Credential.expires_at,
    Credential.allowed_cidrs,
    Credential.rate_limit,
)

_SELECT_CREDENTIAL = (
    select(*_CRED_COLUMNS, Account.email_verified_at)
    .join(Account, Account.id == Credential.account_id)
    .where(Credential.api_key == bindparam("api_key"))
)
_INSERT_TOKEN = insert(IssuedToken)
_INSERT_AUDIT = insert(AuditEvent)


class Exchange:
    """Verifies with ``hasher`` against ``state``'s snapshot or ``read_engine``, mints with
    ``tokens``, writes through ``group_commit``; its limits are kept in ``limiter``."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        hasher: SecretHasher,
        state: IdentityState,
        tokens: Tokens,
        read_engine: AsyncEngine,
        group_commit: GroupCommitter,
        limiter: RateLimiter,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.hasher = hasher
        self.state = state
        self.tokens = tokens
        self.read_engine = read_engine
        self.group_commit = group_commit
        self.limits = ExchangeLimits(settings, limiter, self._deny)
        # Counts an exchange of a known credential for the usage API: (tenant id, credential id,
        # when, code or ""). The gateway's usage recorder, wired by ``fluide.app``.
        self.count: Callable[[str, str, datetime, str], None] | None = None

    async def exchange(
        self,
        actor: Actor,
        *,
        api_key: str | None,
        api_secret: str | None,
        client_id: str | None,
        scope: str | None,
        jkt: str | None = None,
    ) -> ExchangeResult:
        """A token for the credential whose key and live secret these are (DESIGN §3.2), with
        ``scope`` narrowing its scopes (and bound to the DPoP key ``jkt`` if given). Both wire
        formats call this: the JSON exchange (``exchange.lane``) and OAuth's ``/oauth/token``
        (``identity.oauth``)."""
        cred, which = await self.authenticate(
            actor, api_key=api_key, api_secret=api_secret, client_id=client_id
        )
        assert client_id
        granted = await self._granted(actor, cred, scope)
        return await self._issue(actor, cred, client_id, " ".join(granted), which == "current", jkt)

    async def authenticate(
        self,
        actor: Actor,
        *,
        api_key: str | None,
        api_secret: str | None,
        client_id: str | None,
    ) -> tuple[Any, Literal["current", "previous"]]:
        """The exchange's check of a key and its secret, with its limits, lock-out and denial
        audit: the credential and which of its secrets matched, or the AppError to answer.
        OAuth's introspection and revocation authenticate their caller with it too."""
        missing = {
            name: ["is required"]
            for name, value in (
                ("X-Fluide-Api-Key", api_key),
                ("X-Fluide-Api-Secret", api_secret),
                ("X-Fluide-Client-Id", client_id),
            )
            if not value
        }
        if missing:
            raise ValidationFailed("Missing required header(s)", errors=missing)
        assert api_key and api_secret and client_id
        limits = self.limits
        # Every attempt spends its address's budget first, before any work; the key's budget is
        # spent below, only once the secret verified (DESIGN §3.2, ``ExchangeLimits``).
        await limits.admit(actor, api_key)
        if self.state.clients.get(client_id) != "active":
            raise await limits.failed(actor, api_key, ClientIdInvalid())

        key = api_key[:64]
        digest = self.hasher.digest(api_secret)
        # The snapshot of this credential from the last second (identity.credential_cache), if
        # any: a match there is a success; anything else goes to the database, which decides (a
        # secret rotated elsewhere works at once, and a failure is only ever answered from the
        # database). Both take their decision in SecretHasher.live_secret, so they cannot
        # disagree.
        cred: Any = self.state.credential_cache.get(key)
        which = self.hasher.live_secret(digest, cred, self.clock)
        if which is None:
            cred, which = await self._verify_slow(actor, api_key, digest)
        await limits.verified(actor, api_key)
        await self._within_policy(actor, cred)
        return cred, which

    async def _within_policy(self, actor: Actor, cred: Any) -> None:
        """The credential's policy (``identity.policy``), from the row or snapshot just used:
        401 ``CREDENTIAL_EXPIRED`` past its expiry, 403 ``IP_NOT_ALLOWED`` from elsewhere."""
        policy = cred.policy if isinstance(cred, CachedCredential) else CredentialPolicy.of(cred)
        try:
            policy.check(self.clock().timestamp(), actor.source_ip)
        except AppError as exc:
            raise await self._deny(actor, exc, credential=cred) from None

    async def _granted(self, actor: Actor, cred: Any, scope: str | None) -> list[str]:
        """The credential's scopes, narrowed to ``scope`` when asked (never widened)."""
        granted: list[str] = cred.scopes.split()
        if not scope:
            return granted
        wanted = scope.split()
        extra = [s for s in wanted if s not in granted]
        if extra:
            raise await self._deny(
                actor,
                ValidationFailed(
                    "Requested scope exceeds the credential's scopes",
                    errors={"scope": [f"not granted: {s}" for s in extra]},
                ),
                credential=cred,
            )
        return [s for s in granted if s in wanted]

    async def _issue(
        self,
        actor: Actor,
        cred: Any,
        client_id: str,
        scope: str,
        current_ok: bool,
        jkt: str | None = None,
    ) -> ExchangeResult:
        result, now = self.tokens.mint(
            cred,
            client_id=client_id,
            scope=scope,
            generation=cred.generation if current_ok else cred.generation - 1,
            ttl=self.settings.token_ttl_seconds,
            jkt=jkt,
        )
        claims = result.claims
        # The token is handed out only once its row and its audit row are committed.
        await self.group_commit.write(
            (_INSERT_TOKEN, issued_token_row(claims, now)),
            (
                _INSERT_AUDIT,
                audit.row_values(
                    self.clock,
                    Actor("credential", cred.id, actor.source_ip, actor.request_id),
                    "token.exchange",
                    tenant_id=cred.tenant_id,
                    credential_id=cred.id,
                    details={"jti": claims["jti"], "previousSecret": not current_ok},
                ),
            ),
        )
        if self.count is not None:
            self.count(cred.tenant_id, cred.id, now, "")
        return result

    async def _deny(
        self,
        actor: Actor,
        exc: AppError,
        *,
        credential: Any = None,
        key_hint: str | None = None,
    ) -> AppError:
        """Commit the denial's audit row (group commit), then hand the error back to raise."""
        await self.group_commit.write(
            (
                _INSERT_AUDIT,
                audit.row_values(
                    self.clock,
                    actor,
                    "token.exchange",
                    outcome="denied",
                    code=exc.code,
                    tenant_id=credential.tenant_id if credential else None,
                    credential_id=credential.id if credential else None,
                    details={"apiKeyPrefix": key_hint} if key_hint else None,
                ),
            )
        )
        if credential is not None and self.count is not None:
            self.count(credential.tenant_id, credential.id, self.clock(), exc.code)
        return exc

    async def _read_credential(self, api_key: str) -> Any:
        if not formats.is_api_key(api_key):
            # Mistyped or malformed (its checksum says so offline): no such credential, no read.
            # Such values never reach the database (a NUL in a JSON body was a 500 on
            # PostgreSQL).
            return None
        # A read: on SQLite it neither takes nor waits for the write lock (kit.db.read_only).
        async with self.read_engine.connect() as conn:
            return (await conn.execute(_SELECT_CREDENTIAL, {"api_key": api_key})).first()

    async def _verify_slow(
        self, actor: Actor, api_key: str, digest: str
    ) -> tuple[Any, Literal["current", "previous"]]:
        """Check the secret against the database; return the credential and which secret
        matched."""
        cred = await self._read_credential(api_key[:64])
        which = self.hasher.live_secret(digest, cred, self.clock)
        if which is None:
            raise await self.limits.failed(actor, api_key, DeveloperKeysInvalid(), cred)
        # The secret verified: what follows is no failure (nothing counted, no lock-out).
        if cred.status != "active":
            raise await self._deny(actor, CredentialRevoked(), credential=cred)
        if cred.email_verified_at is None:
            raise await self._deny(actor, EmailNotVerified(), credential=cred)
        self.state.credential_cache.put(CachedCredential.of(cred))
        return cred, which
