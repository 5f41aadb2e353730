"""OAuth 2.0's wire format (RFC 6749 §2.3.1, §3.2, §4.4, §5): pure, no framework, no I/O.

A form-encoded body, the client's credentials (``client_secret_basic`` or ``client_secret_post``:
the OAuth client id is the API key, the client secret is the API secret, DESIGN §3.6), the
token answer, and errors as RFC 6749 §5.2 bodies (``{"error", "error_description"}``), mapped
from the exchange's own errors. An error description is a fixed text: never an input value.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

import orjson

from fluide.identity.errors import (
    ClientIdInvalid,
    CredentialExpired,
    CredentialRevoked,
    DeveloperKeysInvalid,
    EmailNotVerified,
    IpNotAllowed,
)
from fluide.kit.errors import AppError, RateLimited, ServiceUnavailable, ValidationFailed
from fluide.kit.faults import RETRY_AFTER_SECONDS

TOKEN_PATH = "/oauth/token"  # noqa: S105 (a path)
INTROSPECT_PATH = "/oauth/introspect"
REVOKE_PATH = "/oauth/revoke"
FORM = "application/x-www-form-urlencoded"
GRANT_TYPE = "client_credentials"
AUTH_METHODS = ("client_secret_basic", "client_secret_post")
# RFC 6749 §2.3.1: the challenge of an invalid_client answer to a request that used (or could
# use) HTTP Basic.
CHALLENGE = 'Basic realm="fluide", charset="UTF-8"'
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# The JSON exchange's limits on the same values (identity.schemas.TokenRequest): a longer one
# is no key, secret or scope of ours, refused before any work, as there.
MAX_CREDENTIAL = 256
MAX_SCOPE = 1000
MAX_TOKEN = 8192
_MAX_FIELDS = 16


class OAuthError(Exception):
    """An RFC 6749 §5.2 error: its status, ``error`` code and fixed description."""

    def __init__(
        self, status: int, error: str, description: str, retry_after: int | None = None
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.description = description
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"OAuthError({self.status}, {self.error!r})"

    @property
    def headers(self) -> dict[str, str]:
        headers = dict(NO_STORE)
        if self.status == 401:
            headers["WWW-Authenticate"] = CHALLENGE
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        return headers

    def body(self) -> bytes:
        return orjson.dumps({"error": self.error, "error_description": self.description})


def temporarily_unavailable(retry_after: str | None) -> OAuthError:
    """A dependency outage (or no signing key yet): 503, retry after ``Retry-After``."""
    seconds = int(retry_after) if retry_after and retry_after.isdigit() else RETRY_AFTER_SECONDS
    return OAuthError(
        503, "temporarily_unavailable", "The service is temporarily unavailable", seconds
    )


def invalid_request(description: str) -> OAuthError:
    return OAuthError(400, "invalid_request", description)


def invalid_client() -> OAuthError:
    return OAuthError(401, "invalid_client", "Client authentication failed")


def unsupported_grant_type() -> OAuthError:
    return OAuthError(
        400, "unsupported_grant_type", "Only grant_type=client_credentials is supported"
    )


def invalid_scope() -> OAuthError:
    return OAuthError(400, "invalid_scope", "The requested scope exceeds the client's scopes")


def parse_form(body: bytes, content_type: str | None) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (RFC 6749 §3.2): name → value.

    Refused (``invalid_request``): another media type, bytes that are not ASCII, percent-escapes
    that are not UTF-8, more than a few fields, a parameter sent twice (§3.1). A parameter
    without a value counts as omitted (§3.1).
    """
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != FORM:
        raise invalid_request(f"The request body must be {FORM}")
    try:
        pairs = parse_qsl(
            body.decode("ascii"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=_MAX_FIELDS,
        )
    except ValueError:  # UnicodeDecodeError included
        raise invalid_request("The request body is not a valid form") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise invalid_request("A parameter is repeated")
        form[name] = value
    return {name: value for name, value in form.items() if value != ""}


@dataclass(frozen=True)
class ClientCredentials:
    """The client's id (an API key) and secret, and how they came."""

    client_id: str
    client_secret: str
    method: str

    def __repr__(self) -> str:  # never the secret
        return f"ClientCredentials(method={self.method!r})"


def _basic(authorization: str) -> tuple[str, str]:
    """RFC 6749 §2.3.1 / RFC 7617: ``Basic base64(urlencoded id ":" urlencoded secret)``."""
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        raise invalid_client()  # another scheme: not a way to authenticate a client here
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise invalid_client() from None
    raw_id, colon, raw_secret = decoded.partition(":")
    if not colon:
        raise invalid_client()
    return unquote_plus(raw_id), unquote_plus(raw_secret)


def client_credentials(authorization: str | None, form: dict[str, str]) -> ClientCredentials:
    """The client's credentials from the ``Authorization`` header or the body, never both
    (RFC 6749 §2.3: one method per request). None at all, or a header that is not a
    well-formed Basic one, is ``invalid_client``; values longer than any key or secret of ours
    are ``invalid_request`` (nothing checked, nothing counted, as the JSON exchange's body)."""
    if authorization:
        if "client_secret" in form:
            raise invalid_request("Use one client authentication method, not two")
        client_id, secret = _basic(authorization)
        if form.get("client_id", client_id) != client_id:
            raise invalid_request("client_id does not match the authenticated client")
        method = "client_secret_basic"
    else:
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        method = "client_secret_post"
    if not client_id or not secret:
        raise invalid_client()
    if len(client_id) > MAX_CREDENTIAL or len(secret) > MAX_CREDENTIAL:
        raise invalid_request("client_id or client_secret is too long")
    return ClientCredentials(client_id, secret, method)


def requested_scope(form: dict[str, str]) -> str | None:
    scope = form.get("scope")
    if scope is not None and len(scope) > MAX_SCOPE:
        raise invalid_scope()
    return scope


def from_app_error(exc: AppError) -> OAuthError:
    """The RFC 6749 §5.2 form of an error of the exchange (``Exchange.exchange`` and
    ``authenticate``). An unknown key, a wrong secret, a revoked credential: ``invalid_client``
    alike (one answer, as the JSON exchange's one code), and an expired one; a verified client
    that may not have tokens yet or not from this address: ``unauthorized_client``; too many
    attempts: 429 with ``Retry-After``."""
    if isinstance(exc, DeveloperKeysInvalid | CredentialRevoked | ClientIdInvalid):
        return invalid_client()
    if isinstance(exc, CredentialExpired):
        # Past its expiry the client no longer authenticates (credential policies, issue 21).
        return invalid_client()
    if isinstance(exc, IpNotAllowed):
        # Authenticated, but not allowed to get tokens from this address (allowed networks).
        return OAuthError(
            400, "unauthorized_client", "This client may not obtain tokens from this address"
        )
    if isinstance(exc, EmailNotVerified):
        return OAuthError(
            400,
            "unauthorized_client",
            "Verify the account's email address before using this client",
        )
    if isinstance(exc, RateLimited):
        # Not a §5.2 code (none fits): the registry's temporarily_unavailable, with 429.
        return OAuthError(
            429, "temporarily_unavailable", "Too many requests; retry later", exc.retry_after
        )
    if isinstance(exc, ServiceUnavailable):
        return temporarily_unavailable(exc.headers.get("Retry-After"))
    if isinstance(exc, ValidationFailed) and exc.errors and "scope" in exc.errors:
        return invalid_scope()
    if exc.status == 401:
        return invalid_client()
    return invalid_request("The request is not valid")


def invalid_dpop_proof() -> OAuthError:
    """RFC 9449 §5: a ``DPoP`` header at the token endpoint whose proof fails a check."""
    return OAuthError(400, "invalid_dpop_proof", "The DPoP proof is not valid")


def token_type(claims: dict[str, Any]) -> str:
    """``DPoP`` for a token bound to a key (RFC 9449 §5.1), else ``Bearer``."""
    return "DPoP" if "cnf" in claims else "Bearer"


def token_body(access_token: str, claims: dict[str, Any]) -> bytes:
    """RFC 6749 §5.1 (§4.4.3: no refresh token)."""
    return orjson.dumps(
        {
            "access_token": access_token,
            "token_type": token_type(claims),
            "expires_in": claims["exp"] - claims["iat"],
            "scope": claims["scope"],
        }
    )
