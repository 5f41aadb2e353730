"""Introspection (RFC 7662) and revocation (RFC 7009) of our access tokens, for an authenticated
client, within its tenant.

The caller authenticates as at the token endpoint (``Exchange.authenticate``: the same secret
rules, limits and lock-out). A token is the caller's to see or revoke only when it verifies
(signature, issuer, audience, time) and belongs to the caller's tenant; anything else is
``{"active": false}`` and revokes nothing, so a client learns nothing about another tenant's
tokens. Whether a token is active is decided by the database (its row, its credential), and the
in-memory revocation view too, so an answer is never more lenient than the guard.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from fluide.identity import jwt_core
from fluide.identity.audit import Actor
from fluide.identity.exchange.service import Exchange
from fluide.identity.models import Credential, IssuedToken
from fluide.identity.oauth import wire
from fluide.identity.principal import Principal
from fluide.identity.session_tokens import DEVELOPER_CLIENT
from fluide.identity.state import IdentityState
from fluide.identity.tokens import Tokens
from fluide.kit.clock import Clock
from fluide.kit.errors import AppError

INACTIVE: dict[str, Any] = {"active": False}

_LIVE_ROW = (
    select(IssuedToken.revoked_at, IssuedToken.generation, IssuedToken.tenant_id)
    .add_columns(Credential.min_token_generation, Credential.status)
    .join(Credential, Credential.id == IssuedToken.credential_id)
)


class OAuthTokens:
    def __init__(
        self,
        exchange: Exchange,
        state: IdentityState,
        tokens: Tokens,
        read_engine: AsyncEngine,
        clock: Clock,
    ) -> None:
        self.exchange = exchange
        self.state = state
        self.tokens = tokens
        self.read_engine = read_engine
        self.clock = clock

    async def authenticate(self, actor: Actor, client: wire.ClientCredentials) -> Any:
        """The caller's credential, or the ``OAuthError`` to answer (``invalid_client``, 429)."""
        try:
            cred, _ = await self.exchange.authenticate(
                actor,
                api_key=client.client_id,
                api_secret=client.client_secret,
                client_id=DEVELOPER_CLIENT,
            )
        except AppError as exc:
            raise wire.from_app_error(exc) from None
        return cred

    def _claims(self, token: str, tenant_id: str) -> dict[str, Any] | None:
        """The claims of ``token`` if it is one of ours, unexpired, of ``tenant_id``."""
        state = self.state
        try:
            claims = jwt_core.verify(
                token,
                state.keyset.verify_keys,
                issuer=state.issuer,
                audience=state.audience,
                now=self.clock().timestamp(),
                leeway=state.leeway,
            )
        except jwt_core.TokenError:
            return None
        if claims["tenant_id"] != tenant_id:
            return None
        return claims

    async def introspect(self, cred: Any, token: str) -> dict[str, Any]:
        """RFC 7662 §2.2: the token's claims when it is an active token of the caller's tenant,
        else exactly ``{"active": false}``."""
        claims = self._claims(token, cred.tenant_id)
        if claims is None or not await self._live(claims):
            return dict(INACTIVE)
        answer = {
            "active": True,
            "scope": claims["scope"],
            "client_id": claims.get("client_id", claims["api_key"]),
            "token_type": wire.token_type(claims),
            "exp": claims["exp"],
            "iat": claims["iat"],
            "nbf": claims["nbf"],
            "sub": claims["sub"],
            "aud": claims["aud"],
            "iss": claims["iss"],
            "jti": claims["jti"],
            "tenant_id": claims["tenant_id"],
        }
        if "cnf" in claims:  # RFC 9449 §6.2: the key a DPoP-bound token is bound to
            answer["cnf"] = claims["cnf"]
        return answer

    async def _live(self, claims: dict[str, Any]) -> bool:
        view = self.state.view
        if view.is_token_revoked(claims["jti"], claims["sub"], claims["gen"]):
            return False
        if view.credential_status(claims["sub"]) != "active":
            return False
        # The database decides last: nothing stored, nothing active.
        async with self.read_engine.connect() as conn:
            row = (await conn.execute(_LIVE_ROW.where(IssuedToken.jti == claims["jti"]))).first()
        return (
            row is not None
            and row.revoked_at is None
            and row.tenant_id == claims["tenant_id"]
            and row.generation >= row.min_token_generation
            and row.status == "active"
        )

    async def revoke(self, session: AsyncSession, actor: Actor, cred: Any, token: str) -> None:
        """RFC 7009 §2.1: revoke an unexpired token of the caller's tenant (everywhere within a
        second, through the unit of work's after-commit hook); anything else changes nothing."""
        claims = self._claims(token, cred.tenant_id)
        if claims is None:
            return
        principal = Principal.from_claims(claims)
        if principal.jti in self.state.view.revoked_jtis:
            return  # already revoked: nothing more to write
        await self.tokens.revoke(session, actor, principal)
