"""Who is calling, as established from a verified token (no database read)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fluide.identity import jwt_core
from fluide.identity.errors import (
    ApiKeyMismatch,
    AuthorizationMalformed,
    AuthorizationMissing,
    ClientAudienceMismatch,
    CredentialRevoked,
    MissingApiKey,
    MissingClientId,
    TokenExpiredError,
    TokenInvalidError,
    TokenRevoked,
)
from fluide.identity.keyring import KeySet
from fluide.identity.revocation import RevocationView
from fluide.kit.errors import AppError

ALL_SCOPES = (
    "hr:read",
    "hr:write",
    "payroll:read",
    "payroll:write",
    "pay:read",
    "pay:write",
    "books:read",
    "books:write",
    "utils:read",
)


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
        )


def bearer_token(authorization: str | None) -> str:
    """Checks 2 and 3 of DESIGN §3.5."""
    if authorization is None or authorization == "":
        raise AuthorizationMissing(headers={"WWW-Authenticate": "Bearer"})
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token or token.count(".") != 2:
        raise AuthorizationMalformed(headers={"WWW-Authenticate": 'Bearer error="invalid_request"'})
    return token


def authenticate(
    *,
    authorization: str | None,
    api_key: str | None,
    client_id: str | None,
    keyset: KeySet,
    view: RevocationView,
    issuer: str,
    now: float,
    leeway: float,
    require_api_key: bool = True,
) -> Principal:
    """Checks 2–10 of DESIGN §3.5, in order. In-memory only: no database, no network."""
    token = bearer_token(authorization)
    if require_api_key and not api_key:
        raise MissingApiKey
    if not client_id:
        raise MissingClientId
    try:
        claims = jwt_core.verify(token, keyset.verify_keys, issuer=issuer, now=now, leeway=leeway)
    except jwt_core.TokenExpired as exc:
        raise TokenExpiredError(
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
        ) from exc
    except jwt_core.TokenError as exc:
        raise TokenInvalidError(
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
        ) from exc
    return check_principal(
        Principal.from_claims(claims), api_key=api_key, client_id=client_id, view=view
    )


def check_principal(
    principal: Principal, *, api_key: str | None, client_id: str, view: RevocationView
) -> Principal:
    """Checks 7–10: revocation, client binding, key binding, credential status."""
    if view.is_token_revoked(principal.jti, principal.credential_id, principal.generation):
        raise TokenRevoked(headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    if client_id != principal.client_id:
        raise ClientAudienceMismatch
    if api_key is not None and api_key != principal.api_key:
        raise ApiKeyMismatch
    if view.credential_status(principal.credential_id) != "active":
        raise CredentialRevoked
    return principal


def is_auth_error(exc: Exception) -> bool:
    return isinstance(exc, AppError) and exc.status in (400, 401, 403)
