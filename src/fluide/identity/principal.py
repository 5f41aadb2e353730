"""Who is calling, as established from a verified token (no database read)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fluide.catalog import ALL_SCOPES
from fluide.identity.errors import AuthorizationMalformed, AuthorizationMissing

# Only a partner tenant's credentials may hold it (DESIGN §3.7); granted to them by default.
ACT_AS_SCOPE = "partner:client:act-as"
PARTNER_SCOPES = (*ALL_SCOPES, ACT_AS_SCOPE)


def scopes_for_kind(kind: str) -> tuple[str, ...]:
    """The scopes a tenant of this kind's credentials may hold (and get by default)."""
    return PARTNER_SCOPES if kind == "PARTNER" else ALL_SCOPES


@dataclass(frozen=True, slots=True)
class Principal:
    jti: str
    credential_id: str
    tenant_id: str
    client_id: str
    api_key: str
    scopes: frozenset[str]
    generation: int
    issued_at: int
    expires_at: int
    # How the token was minted when not by the exchange with the secret (the ``via`` claim:
    # "dashboard" for the dashboard's "Try it" token). Such a token cannot rotate the secret.
    via: str | None = None
    # Set by the guard's act-as check (``identity.partners.acting``) when a partner's call
    # carries X-Workspace-Id and X-Acting-Company-Id of one of its client companies.
    workspace_id: str | None = None
    company_id: str | None = None
    # A DPoP-bound token's key thumbprint (``cnf.jkt``, RFC 9449 §6): every call with it needs
    # the DPoP scheme and a proof by that key (``identity.dpop``). ``None``: a Bearer token.
    jkt: str | None = None

    @property
    def owner_id(self) -> str:
        """Whose product data the call reads and writes: the acting client company's, else
        the token's tenant's. Products filter every query on it (never on ``tenant_id``)."""
        company = self.company_id
        return self.tenant_id if company is None else company

    def __repr__(self) -> str:
        return f"Principal(credential_id={self.credential_id!r}, tenant_id={self.tenant_id!r})"

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> Principal:
        return cls(
            jti=claims["jti"],
            credential_id=claims["sub"],
            tenant_id=claims["tenant_id"],
            client_id=claims["fluide_client_id"],
            api_key=claims["api_key"],
            scopes=frozenset(claims["scope"].split()),
            generation=claims["gen"],
            issued_at=claims["iat"],
            expires_at=claims["exp"],
            via=None if (via := claims.get("via")) is None else str(via),
            jkt=None if (cnf := claims.get("cnf")) is None else _jkt(cnf),
        )


def _jkt(cnf: object) -> str:
    """``cnf.jkt``; a ``cnf`` of another shape binds to no key at all (nothing matches "")."""
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    return jkt if isinstance(jkt, str) else ""


def bearer_token(authorization: str | None) -> str:
    """Checks 2 and 3 of DESIGN §3.5 (``dpop_token``: the ``DPoP`` scheme's)."""
    if authorization is None or authorization == "":
        raise AuthorizationMissing(headers={"WWW-Authenticate": "Bearer"})
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token or token.count(".") != 2:
        raise AuthorizationMalformed(headers={"WWW-Authenticate": 'Bearer error="invalid_request"'})
    return token


def dpop_token(authorization: str) -> str:
    """Check 3 for the ``DPoP`` scheme (RFC 9449 §7.1): ``DPoP <jwt>``, else malformed."""
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "dpop" or not token or " " in token or token.count(".") != 2:
        raise AuthorizationMalformed(headers={"WWW-Authenticate": 'Bearer error="invalid_request"'})
    return token
