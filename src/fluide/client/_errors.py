"""One rooted exception hierarchy for the SDK, built from the DESIGN §3.1 error envelope.

Errors carry the machine ``code``, the HTTP ``status`` and the server's ``request_id``. They
never hold the request (its headers carry the token) and never print a secret or a token.
"""

from __future__ import annotations

from typing import Any

import httpx

from fluide.client._retry import parse_retry_after

__all__ = [
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConflictError",
    "FluideConnectionError",
    "FluideError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "ValidationError",
    "error_from_response",
]


class FluideError(Exception):
    """Root of every error the SDK raises."""

    default_code = "FLUIDE_ERROR"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.status = status
        self.request_id = request_id

    def __str__(self) -> str:
        where = f" {self.status}" if self.status is not None else ""
        rid = f" (request id {self.request_id})" if self.request_id else ""
        return f"{self.code}{where}: {self.message}{rid}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, status={self.status!r}, "
            f"request_id={self.request_id!r})"
        )


class ConfigurationError(FluideError):
    """The client is missing its base URL, API key or secret."""

    default_code = "CLIENT_CONFIGURATION"


class FluideConnectionError(FluideError):
    """The request never got an HTTP answer (DNS, refused connection, timeout, TLS)."""

    default_code = "CONNECTION_ERROR"


class APIError(FluideError):
    """The server answered with an error status; ``body`` is the parsed envelope."""

    default_code = "HTTP_ERROR"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, code=code, status=status, request_id=request_id)
        self.body = body or {}


class BadRequestError(APIError):
    """400: the request was refused as malformed (e.g. ``API_SECRET_NOT_ALLOWED``)."""


class ValidationError(BadRequestError):
    """``VALIDATION_FAILED``: ``errors`` maps each field to its messages."""

    default_code = "VALIDATION_FAILED"

    @property
    def errors(self) -> dict[str, list[str]]:
        raw = self.body.get("errors")
        if not isinstance(raw, dict):
            return {}
        return {str(k): [str(m) for m in v] for k, v in raw.items() if isinstance(v, list)}


class AuthenticationError(APIError):
    """401: bad key or secret, missing/invalid/expired/revoked token, binding mismatch."""


class PermissionDeniedError(APIError):
    """403: the token lacks a scope (``scope`` names it) or the account is not verified."""

    def __init__(self, message: str, *, scope: str | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.scope = scope


class NotFoundError(APIError):
    """404: no such resource in your tenant."""


class ConflictError(APIError):
    """409: the resource's state forbids the change."""


class RateLimitError(APIError):
    """429: ``retry_after`` seconds to wait (from ``Retry-After``), when the server said."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ServerError(APIError):
    """5xx: the service failed or is unavailable."""


def _envelope(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _scope_from(response: httpx.Response, message: str) -> str | None:
    # The guard names the scope in WWW-Authenticate: Bearer error="insufficient_scope", scope="x"
    challenge = response.headers.get("www-authenticate", "")
    marker = 'scope="'
    if marker in challenge:
        return challenge.split(marker, 1)[1].split('"', 1)[0] or None
    if "'" in message:  # "This operation requires the 'hr:read' scope"
        parts = message.split("'")
        if len(parts) >= 3:
            return parts[1]
    return None


def error_from_response(response: httpx.Response) -> APIError:
    """Map an error response to its typed exception (branching on status, keeping ``code``)."""
    status = response.status_code
    body = _envelope(response)
    code = str(body.get("code") or f"HTTP_{status}")
    message = str(body.get("message") or response.reason_phrase or "Request failed")
    request_id = body.get("requestId") or response.headers.get("x-request-id")
    kw: dict[str, Any] = {
        "code": code,
        "status": status,
        "request_id": str(request_id) if request_id else None,
        "body": body,
    }
    if code == "VALIDATION_FAILED" or status == 422:
        return ValidationError(message, **kw)
    if status == 400:
        return BadRequestError(message, **kw)
    if status == 401:
        return AuthenticationError(message, **kw)
    if status == 403:
        scope = _scope_from(response, message) if code == "INSUFFICIENT_SCOPE" else None
        return PermissionDeniedError(message, scope=scope, **kw)
    if status == 404:
        return NotFoundError(message, **kw)
    if status == 409:
        return ConflictError(message, **kw)
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return RateLimitError(message, retry_after=retry_after, **kw)
    if status >= 500:
        return ServerError(message, **kw)
    return APIError(message, **kw)
