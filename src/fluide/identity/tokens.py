"""Token exchange, sign-out and token context (DESIGN §3.2–3.3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from fluide.identity import audit, formats, jwt_core
from fluide.identity.audit import Actor
from fluide.identity.credential_cache import CachedCredential
from fluide.identity.errors import (
    ClientIdInvalid,
    CredentialRevoked,
    DeveloperKeysInvalid,
    EmailNotVerified,
)
from fluide.identity.models import Account, AuditEvent, Credential, IssuedToken, RevocationEvent
from fluide.identity.principal import Principal
from fluide.kit.clock import system_clock
from fluide.kit.errors import AppError, NotFound, RateLimited, ServiceUnavailable, ValidationFailed
from fluide.kit.ids import new_id
from fluide.kit.ratelimit import LimitIds
from fluide.runtime import Runtime


@dataclass(frozen=True)
class ExchangeResult:
    access_token: str
    claims: dict[str, Any]

    def __repr__(self) -> str:
        return f"ExchangeResult(jti={self.claims['jti']!r})"


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
)

_SELECT_CREDENTIAL = (
    select(*_CRED_COLUMNS, Account.email_verified_at)
    .join(Account, Account.id == Credential.account_id)
    .where(Credential.api_key == bindparam("api_key"))
)
_INSERT_TOKEN = insert(IssuedToken)
_INSERT_AUDIT = insert(AuditEvent)


async def _deny(
    rt: Runtime,
    actor: Actor,
    exc: AppError,
    *,
    credential: Any = None,
    key_hint: str | None = None,
) -> AppError:
    """Commit the denial's audit row (group commit), then hand the error back to raise."""
    await rt.group_commit.write(
        (
            _INSERT_AUDIT,
            audit.row_values(
                rt.clock,
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
    return exc


def _key_hint(api_key: str) -> str:
    # Enough to correlate a denial with a key in the audit log, not enough to use it.
    return api_key[:11]


def _lockouts(rt: Runtime, key_id: str, ip: str) -> tuple[LimitIds, LimitIds]:
    """The failure windows of an attempt: per (key, address) and per address (DESIGN §3.2)."""
    s = rt.settings
    return (
        (s.exchange_failure_limit, ("xfail", key_id, ip)),
        (s.exchange_failure_limit_long, ("xfail-ip", ip)),
    )


async def _spend(rt: Runtime, actor: Actor, api_key: str, budget: LimitIds) -> None:
    """Spend one unit of a budget, or answer 429. Decided in the process (in memory, no await;
    with Redis through ``RateLimiter.check_and_hit_shared``'s shared windows)."""
    _, refused = await rt.limiter.check_and_hit_shared((), (budget,))
    if refused is not None:
        raise await _deny(rt, actor, RateLimited(refused.retry_after), key_hint=_key_hint(api_key))


async def _failed(
    rt: Runtime, actor: Actor, api_key: str, exc: AppError, credential: Any = None
) -> AppError:
    """A failing attempt (wrong secret, unknown key, bogus client id): 429 while its (key,
    address) or its address is locked out, otherwise counted in both windows and ``exc``.

    Only failures come here, so a lock-out never refuses a correct secret (DESIGN §3.2): whoever
    lacks the secret can lock out only their own attempts. Failures for one key from one address
    take turns for the look and the count (with Redis, separate round trips), so a burst of
    parallel failures is counted exactly up to the limit and the rest see the lock-out."""
    key, ip = api_key[:64], actor.source_ip or "-"
    lockouts = _lockouts(rt, key, ip)
    async with rt.exchange_turns.turn((key, ip)):
        locked, _ = await rt.limiter.check_and_hit(lockouts, ())
        if locked is None:
            for limit, ids in lockouts:
                await rt.limiter.count_failure(limit, *ids)
    if locked is not None:
        exc = RateLimited(locked.retry_after, "Too many failed attempts; locked out for a while")
        credential = None
    return await _deny(rt, actor, exc, credential=credential, key_hint=_key_hint(api_key))


async def _read_credential(rt: Runtime, api_key: str) -> Any:
    if not formats.is_api_key(api_key):
        # Mistyped or malformed (its checksum says so offline): no such credential, no read.
        # Such values never reach the database (a NUL in a JSON body was a 500 on PostgreSQL).
        return None
    # A read: on SQLite it neither takes nor waits for the write lock (kit.db.read_only).
    async with rt.read_engine.connect() as conn:
        return (await conn.execute(_SELECT_CREDENTIAL, {"api_key": api_key})).first()


async def _verify_slow(
    rt: Runtime, actor: Actor, api_key: str, digest: str
) -> tuple[Any, Literal["current", "previous"]]:
    """Check the secret against the database; return the credential and which secret matched."""
    cred = await _read_credential(rt, api_key[:64])
    which = rt.hasher.live_secret(digest, cred, rt.clock)
    if which is None:
        raise await _failed(rt, actor, api_key, DeveloperKeysInvalid(), cred)
    # The secret verified: what follows is no failure (nothing counted, no lock-out).
    if cred.status != "active":
        raise await _deny(rt, actor, CredentialRevoked(), credential=cred)
    if cred.email_verified_at is None:
        raise await _deny(rt, actor, EmailNotVerified(), credential=cred)
    rt.credential_cache.put(CachedCredential.of(cred))
    return cred, which


def mint_access_token(
    rt: Runtime,
    cred: Any,
    *,
    client_id: str,
    scope: str,
    generation: int,
    ttl: int,
    via: str | None = None,
) -> tuple[ExchangeResult, datetime]:
    """Sign an access token (DESIGN §4 claims) for a credential; return it with its ``iat``.

    ``via`` marks a token minted without the secret (``Principal.via``): it cannot rotate.
    """
    signing_key = rt.keyset.signing_key
    if signing_key is None:
        raise ServiceUnavailable("No signing key is loaded")
    now = rt.clock()
    iat = int(now.timestamp())
    claims: dict[str, Any] = {
        "iss": rt.settings.issuer,
        "sub": cred.id,
        "iat": iat,
        "nbf": iat,
        "exp": iat + ttl,
        "jti": new_id("tok")[4:],
        "tenant_id": cred.tenant_id,
        "fluide_client_id": client_id,
        "api_key": cred.api_key,
        "scope": scope,
        "gen": generation,
    }
    if via is not None:
        claims["via"] = via
    return ExchangeResult(jwt_core.mint(claims, signing_key), claims), now


def issued_token_row(claims: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The ``issued_tokens`` row of a token just minted (``auth-context`` and revocation)."""
    return {
        "jti": claims["jti"],
        "credential_id": claims["sub"],
        "tenant_id": claims["tenant_id"],
        "client_id": claims["fluide_client_id"],
        "scope": claims["scope"],
        "generation": claims["gen"],
        "issued_at": now,
        "expires_at": now + timedelta(seconds=claims["exp"] - claims["iat"]),
        "revoked_at": None,
    }


async def exchange(
    rt: Runtime,
    actor: Actor,
    *,
    api_key: str | None,
    api_secret: str | None,
    client_id: str | None,
    scope: str | None,
) -> ExchangeResult:
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
    conf = rt.settings
    # Every attempt spends its address's budget first: it sheds a flood from one address before
    # any work. The key's budget is spent below, only once the secret verified, so nobody who
    # lacks the secret can spend it (DESIGN §3.2).
    ip_budget = (conf.exchange_limit_per_ip, ("xip", actor.source_ip or "-"))
    await _spend(rt, actor, api_key, ip_budget)
    if rt.clients.get(client_id) != "active":
        raise await _failed(rt, actor, api_key, ClientIdInvalid())

    key = api_key[:64]
    digest = rt.hasher.digest(api_secret)
    # The snapshot of this credential from the last second (identity.credential_cache), if any:
    # a match there is a success; anything else goes to the database, which decides (a secret
    # rotated elsewhere works at once, and a failure is only ever answered from the database).
    # Both take their decision in SecretHasher.live_secret, so they cannot disagree.
    cred: Any = rt.credential_cache.get(key)
    which = rt.hasher.live_secret(digest, cred, rt.clock)
    if which is None:
        cred, which = await _verify_slow(rt, actor, api_key, digest)
    await _spend(rt, actor, api_key, (conf.exchange_limit_per_key, ("xkey", key)))
    current_ok = which == "current"

    granted = cred.scopes.split()
    if scope:
        wanted = scope.split()
        extra = [s for s in wanted if s not in granted]
        if extra:
            raise await _deny(
                rt,
                actor,
                ValidationFailed(
                    "Requested scope exceeds the credential's scopes",
                    errors={"scope": [f"not granted: {s}" for s in extra]},
                ),
                credential=cred,
            )
        granted = [s for s in granted if s in wanted]

    result, now = mint_access_token(
        rt,
        cred,
        client_id=client_id,
        scope=" ".join(granted),
        generation=cred.generation if current_ok else cred.generation - 1,
        ttl=rt.settings.token_ttl_seconds,
    )
    claims = result.claims
    # The token is handed out only once its row and its audit row are committed.
    await rt.group_commit.write(
        (_INSERT_TOKEN, issued_token_row(claims, now)),
        (
            _INSERT_AUDIT,
            audit.row_values(
                rt.clock,
                Actor("credential", cred.id, actor.source_ip, actor.request_id),
                "token.exchange",
                tenant_id=cred.tenant_id,
                credential_id=cred.id,
                details={"jti": claims["jti"], "previousSecret": not current_ok},
            ),
        ),
    )
    return result


def exchange_body(result: ExchangeResult) -> dict[str, Any]:
    c = result.claims
    return {
        "accessToken": result.access_token,
        "tokenType": "Bearer",
        "exp": c["exp"],
        "iat": c["iat"],
        "expiresIn": c["exp"] - c["iat"],
        "jti": c["jti"],
        "tenantId": c["tenant_id"],
        "fluideClientId": c["fluide_client_id"],
        "authContextPath": f"/api/v1/auth-context/{c['jti']}",
        "scope": c["scope"],
    }


async def revoke_token(
    rt: Runtime, session: AsyncSession, actor: Actor, principal: Principal
) -> None:
    token = await session.get(IssuedToken, principal.jti)
    now = rt.clock()
    if token is not None and token.revoked_at is None:
        token.revoked_at = now
    session.add(
        RevocationEvent(
            kind="token",
            subject=principal.jti,
            created_at=system_clock(),
            expires_at=datetime.fromtimestamp(principal.expires_at, tz=now.tzinfo),
        )
    )
    audit.record(
        session,
        rt.clock,
        actor,
        "token.revoke",
        tenant_id=principal.tenant_id,
        credential_id=principal.credential_id,
        details={"jti": principal.jti},
    )
    await session.flush()


async def auth_context(
    rt: Runtime, session: AsyncSession, principal: Principal, jti: str
) -> dict[str, Any]:
    row = (
        await session.execute(
            select(IssuedToken, Credential)
            .join(Credential, Credential.id == IssuedToken.credential_id)
            .where(IssuedToken.jti == jti, IssuedToken.credential_id == principal.credential_id)
        )
    ).first()
    if row is None:
        raise NotFound("Token not found")
    token, cred = row
    now = rt.clock()
    if (
        token.revoked_at is not None
        or token.generation < cred.min_token_generation
        or cred.status != "active"
    ):
        status = "revoked"
    elif token.expires_at <= now:
        status = "expired"
    else:
        status = "active"
    return {
        "jti": token.jti,
        "tenantId": token.tenant_id,
        "fluideClientId": token.client_id,
        "apiKey": cred.api_key,
        "scopes": token.scope.split(),
        "issuedAt": token.issued_at,
        "expiresAt": token.expires_at,
        "status": status,
    }
