"""Short-lived access tokens minted from a signed-in dashboard session (the "Try it" button).

The account proved who it is with its session, so no API secret is needed; in exchange the
token lives at most five minutes. The claims are those of a normal token exchange
(``tokens.exchange``), so the token works on every product route the credential may call.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from fluide.identity import audit, credentials, jwt_core
from fluide.identity.audit import Actor
from fluide.identity.errors import ClientIdInvalid, CredentialRevoked, EmailNotVerified
from fluide.identity.models import Account, IssuedToken
from fluide.identity.tokens import ExchangeResult
from fluide.kit.errors import ServiceUnavailable
from fluide.kit.ids import new_id
from fluide.runtime import Runtime

MAX_TTL_SECONDS = 300
DEVELOPER_CLIENT = "fluide-developer"


async def mint_for_session(
    rt: Runtime,
    session: AsyncSession,
    actor: Actor,
    *,
    account: Account,
    credential_id: str,
    client_id: str = DEVELOPER_CLIENT,
) -> ExchangeResult:
    """Mint a token (≤ 5 min) for one credential of the signed-in account's tenant.

    Same checks as an exchange minus the secret: the credential is the tenant's (else 404),
    active, the account verified and the client known. Flushes; the caller commits.
    """
    cred = await credentials.get_for_tenant(session, account.tenant_id, credential_id)
    if cred.status != "active":
        raise CredentialRevoked
    if account.email_verified_at is None:
        raise EmailNotVerified
    if rt.clients.get(client_id) != "active":
        raise ClientIdInvalid
    signing_key = rt.keyset.signing_key
    if signing_key is None:
        raise ServiceUnavailable("No signing key is loaded")
    ttl = min(MAX_TTL_SECONDS, rt.settings.token_ttl_seconds)
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
        "scope": cred.scopes,
        "gen": cred.generation,
    }
    token = jwt_core.mint(claims, signing_key)
    session.add(
        IssuedToken(
            jti=claims["jti"],
            credential_id=cred.id,
            tenant_id=cred.tenant_id,
            client_id=client_id,
            scope=claims["scope"],
            generation=claims["gen"],
            issued_at=now,
            expires_at=now + timedelta(seconds=ttl),
        )
    )
    audit.record(
        session,
        rt.clock,
        actor,
        "token.exchange",
        tenant_id=cred.tenant_id,
        credential_id=cred.id,
        details={"via": "dashboard", "jti": claims["jti"]},
    )
    await session.flush()
    return ExchangeResult(token, claims)
