"""Checks 2–10 of DESIGN §3.5 on the hot path: in memory, with the verified-token cache."""

from __future__ import annotations

from fluide.gateway.cache import TokenCache
from fluide.identity import jwt_core
from fluide.identity.errors import (
    MissingApiKey,
    MissingClientId,
    TokenExpiredError,
    TokenInvalidError,
)
from fluide.identity.keyring import KeySet
from fluide.identity.principal import Principal, bearer_token

INVALID_TOKEN_HEADERS = {"WWW-Authenticate": 'Bearer error="invalid_token"'}


def verified_principal(
    cache: TokenCache,
    *,
    authorization: str | None,
    api_key: str | None,
    client_id: str | None,
    keyset: KeySet,
    issuer: str,
    now: float,
    leeway: float,
) -> Principal:
    """Checks 2–6: header shape, presence of key and client id, signature/claims, expiry.

    The caller runs checks 7–10 (``principal.check_principal``) on the result, cached or not.
    """
    token = bearer_token(authorization)
    if not api_key:
        raise MissingApiKey
    if not client_id:
        raise MissingClientId
    principal = cache.get(token, keyset)
    if principal is None:
        try:
            claims = jwt_core.verify(
                token, keyset.verify_keys, issuer=issuer, now=now, leeway=leeway
            )
        except jwt_core.TokenExpired as exc:
            raise TokenExpiredError(headers=INVALID_TOKEN_HEADERS) from exc
        except jwt_core.TokenError as exc:
            raise TokenInvalidError(headers=INVALID_TOKEN_HEADERS) from exc
        principal = Principal.from_claims(claims)
        cache.put(token, principal, keyset)
    elif principal.expires_at <= now - leeway:
        cache.discard(token)
        raise TokenExpiredError(headers=INVALID_TOKEN_HEADERS)
    return principal
