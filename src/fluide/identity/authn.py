"""Who calls: the guard's checks 1–10 (DESIGN §3.5) and the credential's policy, written once.

``read_headers`` is the one scan of a request's raw ASGI headers for what the service reads
as credentials. ``check_caller`` runs checks 2–10 over those headers, the in-memory identity
state and the time, and nothing else (no database, no network): the developer-session routes
call it without requiring the API key, and ``require_scope`` outside a guarded router. The
gateway's middleware runs its two halves itself, ``verified_caller`` (2–6, with its
verified-token cache) then ``bound_caller`` (7–10), because it counts a denial of 7–10 under
the token's credential. Check 1 (a secret header anywhere but the exchange) is the gateway
middleware's alone: it needs the exposure check, which writes.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

from fluide.identity import jwt_core
from fluide.identity.errors import (
    NO_DPOP_HERE,
    ApiKeyMismatch,
    AuthorizationMalformed,
    ClientAudienceMismatch,
    CredentialRevoked,
    DpopSchemeMismatch,
    MissingApiKey,
    MissingClientId,
    TokenExpiredError,
    TokenInvalidError,
    TokenRevoked,
)
from fluide.identity.keyring import KeySet
from fluide.identity.policy import CredentialPolicy
from fluide.identity.principal import Principal, bearer_token, dpop_token
from fluide.identity.state import IdentityState
from fluide.kit.proxies import FORWARDED_FOR, client_address

INVALID_TOKEN_HEADERS = {"WWW-Authenticate": 'Bearer error="invalid_token"'}

# Header name → its slot in ``CallerHeaders`` (ASGI servers send names in lower case).
_SLOTS = {
    b"authorization": 0,
    b"x-fluide-api-key": 1,
    b"x-fluide-client-id": 2,
    b"x-fluide-api-secret": 3,
    b"x-fluide-scope": 4,
    FORWARDED_FOR: 5,
    # Either act-as header (DESIGN §3.7): only noticed here, so that a call without them skips
    # the act-as check's own pass over the headers (``partners.acting`` reads them itself).
    b"x-workspace-id": 6,
    b"x-acting-company-id": 6,
}
_FORWARDED = _SLOTS[FORWARDED_FOR]


class CallerHeaders:
    """The credential headers of one request: the first of each, as Starlette's
    ``Headers.get`` would give it, except ``X-Forwarded-For``: all of them, joined in order
    (``kit.proxies``)."""

    __slots__ = ("acting", "api_key", "authorization", "client_id", "forwarded", "scope", "secret")

    def __init__(self, values: list[str | None]) -> None:
        (
            self.authorization,
            self.api_key,
            self.client_id,
            self.secret,
            self.scope,
            self.forwarded,
            self.acting,  # the first act-as header's value, if any was sent
        ) = values

    def __repr__(self) -> str:  # never the values
        return "CallerHeaders(...)"


def read_headers(raw: list[tuple[bytes, bytes]]) -> CallerHeaders:
    """One pass over the raw header list: one dict lookup per header."""
    values: list[str | None] = [None, None, None, None, None, None, None]
    for name, value in raw:
        slot = _SLOTS.get(name)
        if slot is not None:
            if values[slot] is None:
                values[slot] = value.decode("latin-1")
            elif slot == _FORWARDED:
                values[slot] = f"{values[slot]},{value.decode('latin-1')}"
    return CallerHeaders(values)


class VerifiedTokens(Protocol):
    """A cache of verified tokens (the gateway's ``TokenCache``): claims, never a verdict."""

    def get(self, token: str, keyset: object) -> Principal | None: ...

    def put(self, token: str, principal: Principal, keyset: object) -> None: ...

    def discard(self, token: str) -> None: ...


def check_caller(
    headers: CallerHeaders,
    state: IdentityState,
    now: float,
    *,
    peer: str | None,
    cache: VerifiedTokens | None = None,
    require_api_key: bool = True,
) -> Principal:
    """Checks 2–10 of DESIGN §3.5, in order, then the credential's policy; the principal, or
    the AppError of the first failing check. ``require_api_key=False`` (the developer session):
    the API key may be absent, but when sent it must be the token's. ``peer``: the socket's
    address (the client's is derived from it only for a credential restricted to networks)."""
    principal = verified_caller(headers, state, now, cache=cache, require_api_key=require_api_key)
    return bound_caller(principal, headers, state, now, peer)


def verified_caller(
    headers: CallerHeaders,
    state: IdentityState,
    now: float,
    *,
    cache: VerifiedTokens | None = None,
    require_api_key: bool = True,
    dpop: bool = False,
) -> Principal:
    """Checks 2–6: header shape, presence of the key and the client id, signature and claims,
    expiry. A verified token's claims may come from ``cache``; they say who the token is for,
    never whether it may be used (``bound_caller`` decides that every time).

    A DPoP-bound token (``Principal.jkt``) passes only as ``Authorization: DPoP <token>`` and
    only where the caller checks its proof next (``dpop=True``: the product guard); an unbound
    token only as ``Bearer`` (RFC 9449 §7.1). Elsewhere the ``DPoP`` scheme is malformed."""
    try:
        token = bearer_token(headers.authorization)  # checks 2 and 3
        dpop_scheme = False
    except AuthorizationMalformed:
        if not dpop or headers.authorization is None:
            raise
        token = dpop_token(headers.authorization)
        dpop_scheme = True
    if require_api_key and not headers.api_key:
        raise MissingApiKey
    if not headers.client_id:
        raise MissingClientId
    keyset = state.keyset
    if cache is None:
        principal = _verified(token, keyset, state, now)
    else:
        cached = cache.get(token, keyset)
        if cached is None:
            principal = _verified(token, keyset, state, now)
            cache.put(token, principal, keyset)
        elif cached.expires_at <= now - state.leeway:
            # A cached token is only its claims: its expiry is checked again on every hit.
            cache.discard(token)
            raise TokenExpiredError(headers=INVALID_TOKEN_HEADERS)
        else:
            principal = cached
    if principal.jkt is not None or dpop_scheme:
        _scheme_fits(principal, dpop_scheme, dpop)
    return principal


def _scheme_fits(principal: Principal, dpop_scheme: bool, dpop: bool) -> None:
    """A bound token as ``DPoP``, an unbound one as ``Bearer`` (RFC 9449 §7.1, §7.2); a bound
    one not at all where no proof is checked (``dpop`` False)."""
    if not dpop:
        raise DpopSchemeMismatch(NO_DPOP_HERE)
    if dpop_scheme != (principal.jkt is not None):
        raise DpopSchemeMismatch


def bound_caller(
    principal: Principal,
    headers: CallerHeaders,
    state: IdentityState,
    now: float,
    peer: str | None,
) -> Principal:
    """Checks 7–10: revocation, client binding, key binding, credential status (every time,
    cached or not: a cached token replayed with another key or client id is refused); then
    the credential's policy (``identity.policy``): expiry, allowed networks, and the token's
    scopes cut down to the credential's own. The principal returned is the one to use."""
    view = state.view
    if view.is_token_revoked(principal.jti, principal.credential_id, principal.generation):
        raise TokenRevoked(headers=INVALID_TOKEN_HEADERS)
    if headers.client_id != principal.client_id:
        raise ClientAudienceMismatch
    api_key = headers.api_key
    if api_key is not None and api_key != principal.api_key:
        raise ApiKeyMismatch
    if view.credential_status(principal.credential_id) != "active":
        raise CredentialRevoked
    policy = view.policies.get(principal.credential_id)
    if policy is None:
        return principal
    return _within_policy(principal, policy, headers, state, now, peer)


def _within_policy(
    principal: Principal,
    policy: CredentialPolicy,
    headers: CallerHeaders,
    state: IdentityState,
    now: float,
    peer: str | None,
) -> Principal:
    # The client's address costs a header walk: only for a credential restricted to networks.
    address = (
        client_address(peer, headers.forwarded, state.proxies)
        if policy.networks is not None
        else None
    )
    policy.check(now, address)
    scopes = policy.scopes
    if scopes is not None and not principal.scopes <= scopes:
        # The credential's scopes were narrowed after the token was minted: never exceed them.
        return replace(principal, scopes=principal.scopes & scopes)
    return principal


def _verified(token: str, keyset: KeySet, state: IdentityState, now: float) -> Principal:
    """Checks 5 and 6: signature, key id, algorithm, issuer, audience, claims, expiry."""
    try:
        claims = jwt_core.verify(
            token,
            keyset.verify_keys,
            issuer=state.issuer,
            audience=state.audience,
            now=now,
            leeway=state.leeway,
        )
    except jwt_core.TokenExpired as exc:
        raise TokenExpiredError(headers=INVALID_TOKEN_HEADERS) from exc
    except jwt_core.TokenError as exc:
        raise TokenInvalidError(headers=INVALID_TOKEN_HEADERS) from exc
    return Principal.from_claims(claims)
