"""Short-lived access tokens minted from a signed-in dashboard session (the "Try it" button).

The account proved who it is with its session, so no API secret is needed; in exchange the
token lives at most five minutes. The claims are those of a normal token exchange
(``exchange.service``), so the token works on every product route the credential may call,
plus ``via: "dashboard"``: such a token cannot rotate the secret (``POST
/api/v1/authorize/rotate-secret`` answers 403 ``INSUFFICIENT_SCOPE``). It is handed to the
browser's playground, where a script could read it; five minutes of product calls is what it
may leak, never a new secret that lasts. It may still revoke itself and read its credential's
metadata and token contexts; rotating and revoking the credential stay with the signed-in
session (the dashboard and ``/api/v1/auth/credentials/...``).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from fluide.identity import audit, credentials
from fluide.identity.audit import Actor
from fluide.identity.errors import ClientIdInvalid, CredentialRevoked, EmailNotVerified
from fluide.identity.models import Account, IssuedToken
from fluide.identity.state import IdentityState
from fluide.identity.tokens import ExchangeResult, Tokens, issued_token_row
from fluide.kit.clock import Clock

MAX_TTL_SECONDS = 300
VIA_DASHBOARD = "dashboard"
DEVELOPER_CLIENT = "fluide-developer"


class SessionTokens:
    """Mints "Try it" tokens with ``tokens``, for clients ``state`` knows, living at most
    ``ttl`` (and five minutes)."""

    def __init__(self, tokens: Tokens, state: IdentityState, clock: Clock, ttl: int) -> None:
        self.tokens = tokens
        self.state = state
        self.clock = clock
        self.ttl = min(MAX_TTL_SECONDS, ttl)

    async def mint_for_session(
        self,
        session: AsyncSession,
        actor: Actor,
        *,
        account: Account,
        credential_id: str,
        client_id: str = DEVELOPER_CLIENT,
    ) -> ExchangeResult:
        """Mint a token (≤ 5 min) for one credential of the signed-in account's tenant.

        Same checks as an exchange minus the secret: the credential is the tenant's (else 404),
        active, the account verified and the client known. Flushes; the unit of work commits.
        """
        cred = await credentials.get_for_tenant(session, account.tenant_id, credential_id)
        if cred.status != "active":
            raise CredentialRevoked
        if account.email_verified_at is None:
            raise EmailNotVerified
        if self.state.clients.get(client_id) != "active":
            raise ClientIdInvalid
        result, now = self.tokens.mint(
            cred,
            client_id=client_id,
            scope=cred.scopes,
            generation=cred.generation,
            ttl=self.ttl,
            via=VIA_DASHBOARD,
        )
        claims = result.claims
        session.add(IssuedToken(**issued_token_row(claims, now)))
        audit.record(
            session,
            self.clock,
            actor,
            "token.exchange",
            tenant_id=cred.tenant_id,
            credential_id=cred.id,
            details={"via": "dashboard", "jti": claims["jti"]},
        )
        await session.flush()
        return result
