"""Access tokens: minting (for the exchange and the dashboard's "Try it"), the issued-token row,
sign-out and a token's context (DESIGN §3.2–3.3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fluide.identity import audit, jwt_core
from fluide.identity.audit import Actor
from fluide.identity.feed import note_change
from fluide.identity.models import Credential, IssuedToken, RevocationEvent
from fluide.identity.principal import Principal
from fluide.identity.state import IdentityState
from fluide.kit.clock import Clock, system_clock
from fluide.kit.errors import NotFound, ServiceUnavailable
from fluide.kit.ids import new_id


@dataclass(frozen=True)
class ExchangeResult:
    access_token: str
    claims: dict[str, Any]

    def __repr__(self) -> str:
        return f"ExchangeResult(jti={self.claims['jti']!r})"


class Tokens:
    """Mints with the state's signing key; reads and revokes issued tokens."""

    def __init__(self, state: IdentityState, clock: Clock) -> None:
        self.state = state
        self.clock = clock

    def mint(
        self,
        cred: Any,
        *,
        client_id: str,
        scope: str,
        generation: int,
        ttl: int,
        via: str | None = None,
        jkt: str | None = None,
    ) -> tuple[ExchangeResult, datetime]:
        """Sign an access token (DESIGN §4 claims) for a credential; return it with its ``iat``.

        ``via`` marks a token minted without the secret (``Principal.via``): it cannot rotate.
        ``jkt`` binds it to a DPoP key (RFC 9449 §6.1: ``cnf.jkt``, ``identity.dpop``).
        """
        now = self.clock()
        signing_key = self.state.keyset.signing_key_at(now.timestamp())
        if signing_key is None:
            raise ServiceUnavailable("No signing key is loaded")
        iat = int(now.timestamp())
        claims: dict[str, Any] = {
            "iss": self.state.issuer,
            "aud": self.state.audience,
            "sub": cred.id,
            "iat": iat,
            "nbf": iat,
            "exp": iat + ttl,
            "jti": new_id("tok")[4:],
            "tenant_id": cred.tenant_id,
            "fluide_client_id": client_id,
            "api_key": cred.api_key,
            # RFC 9068 §2.2: the OAuth client, which is the API key (DESIGN §3.6).
            "client_id": cred.api_key,
            "scope": scope,
            "gen": generation,
        }
        if via is not None:
            claims["via"] = via
        if jkt is not None:
            claims["cnf"] = {"jkt": jkt}
        return ExchangeResult(jwt_core.mint(claims, signing_key), claims), now

    async def revoke(self, session: AsyncSession, actor: Actor, principal: Principal) -> None:
        """Revoke the presented token (sign-out); applied everywhere once committed."""
        token = await session.get(IssuedToken, principal.jti)
        now = self.clock()
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
            self.clock,
            actor,
            "token.revoke",
            tenant_id=principal.tenant_id,
            credential_id=principal.credential_id,
            details={"jti": principal.jti},
        )
        note_change(session)
        await session.flush()

    async def context(
        self, session: AsyncSession, principal: Principal, jti: str
    ) -> dict[str, Any]:
        """The context of one of the caller's credential's tokens; another's is a 404. The
        acting workspace and company are the caller's (checked by the guard's act-as check)."""
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
        now = self.clock()
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
            "workspaceId": principal.workspace_id,
            "companyId": principal.company_id,
        }


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
