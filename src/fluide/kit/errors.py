"""One error type, one handler: every failure leaves as the envelope of DESIGN §3.1."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from redis.exceptions import RedisError
from sqlalchemy.exc import DisconnectionError, StatementError
from sqlalchemy.exc import TimeoutError as SATimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import Scope, Send

from fluide.kit import money
from fluide.kit.clock import iso_z, system_clock

log = logging.getLogger("fluide.errors")

# Every 401 carries a WWW-Authenticate challenge (RFC 9110 §15.5.2, DESIGN §3.1). This one
# stands in where nothing more precise was said; the error classes say more (identity.errors).
DEFAULT_CHALLENGE = "Bearer"


class AppError(Exception):
    """An expected failure with a machine code. Messages are for people and never hold secrets.

    A 401 always has a ``WWW-Authenticate`` header: the one passed in ``headers``, else the
    class's ``challenge``, else ``DEFAULT_CHALLENGE``.
    """

    status = 400
    code = "BAD_REQUEST"
    message = "Bad request"
    challenge: str | None = None

    def __init__(
        self,
        message: str | None = None,
        *,
        errors: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        if message is not None:
            self.message = message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        self.errors = errors
        self.headers = headers or {}
        if self.status == 401 and "WWW-Authenticate" not in self.headers:
            # A new dict: ``headers`` may be a caller's shared constant.
            self.headers = {
                **self.headers,
                "WWW-Authenticate": self.challenge or DEFAULT_CHALLENGE,
            }
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, status={self.status})"


class ValidationFailed(AppError):
    status, code, message = 400, "VALIDATION_FAILED", "Request validation failed"


def amount_limit_error() -> ValidationFailed:
    """The 400 for an amount or total a money column cannot hold (``money.STORAGE_LIMIT``)."""
    return ValidationFailed(
        errors={"body": [f"amounts and totals must stay below {money.STORAGE_LIMIT:f}"]}
    )


class NotFound(AppError):
    status, code, message = 404, "NOT_FOUND", "Resource not found"


class Conflict(AppError):
    status, code, message = 409, "CONFLICT", "Conflict"


class Unauthorized(AppError):
    status, code, message = 401, "UNAUTHORIZED", "Authentication required"


class Forbidden(AppError):
    status, code, message = 403, "FORBIDDEN", "Forbidden"


class RateLimited(AppError):
    status, code, message = 429, "RATE_LIMITED", "Too many requests; retry later"

    def __init__(
        self, retry_after: int, message: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        all_headers = {"Retry-After": str(max(1, retry_after))}
        all_headers.update(headers or {})
        super().__init__(message, headers=all_headers)
        self.retry_after = max(1, retry_after)


class ServiceUnavailable(AppError):
    status, code, message = 503, "SERVICE_UNAVAILABLE", "Service temporarily unavailable"


_STATUS_CODES = {
    400: ("BAD_REQUEST", "Bad request"),
    401: ("UNAUTHORIZED", "Authentication required"),
    403: ("FORBIDDEN", "Forbidden"),
    404: ("NOT_FOUND", "Resource not found"),
    405: ("METHOD_NOT_ALLOWED", "Method not allowed"),
    406: ("NOT_ACCEPTABLE", "Not acceptable"),
    409: ("CONFLICT", "Conflict"),
    413: ("PAYLOAD_TOO_LARGE", "Request body too large"),
    415: ("UNSUPPORTED_MEDIA_TYPE", "Unsupported media type"),
    422: ("VALIDATION_FAILED", "Request validation failed"),
    429: ("RATE_LIMITED", "Too many requests; retry later"),
}


def error_body(
    status: int,
    code: str,
    message: str,
    request_id: str,
    errors: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "success": False,
        "code": code,
        "message": message,
        "statusCode": status,
        "timestamp": iso_z(system_clock()),
        "requestId": request_id,
    }
    if errors is not None:
        body["errors"] = errors
    return body


def error_response(
    status: int,
    code: str,
    message: str,
    request_id: str,
    errors: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return Response(
        orjson.dumps(error_body(status, code, message, request_id, errors)),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


async def send_error(
    send: Send,
    status: int,
    code: str,
    message: str,
    request_id: str,
    errors: dict[str, list[str]] | None = None,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """The envelope straight onto an ASGI ``send``, for pure ASGI middlewares that answer
    before any route (input limits, the guard, the last-resort 500)."""
    body = orjson.dumps(error_body(status, code, message, request_id, errors))
    await send_json(send, status, body, headers)


async def send_json(
    send: Send, status: int, body: bytes, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    """A serialised JSON body straight onto an ASGI ``send`` (no ``Response`` object)."""
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw.extend(headers)
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def request_id_of(request: Request) -> str:
    rid = request.scope.get("state", {}).get("request_id")
    return str(rid) if rid else "-"


def validation_errors(exc: RequestValidationError) -> dict[str, list[str]]:
    """Field path → messages. Input values are never echoed (they may be secrets)."""
    out: dict[str, list[str]] = {}
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        field = ".".join(loc) or "body"
        out.setdefault(field, []).append(str(err.get("msg", "invalid")))
    return out


def app_error_response(request: Request, exc: AppError) -> Response:
    return error_response(
        exc.status, exc.code, exc.message, request_id_of(request), exc.errors, exc.headers
    )


def validation_error_response(request: Request, exc: RequestValidationError) -> Response:
    return error_response(
        400,
        "VALIDATION_FAILED",
        "Request validation failed",
        request_id_of(request),
        validation_errors(exc),
    )


# What turns an exception into an outage's 503 (``kit.faults.noted``, handed in by the app:
# kit.faults builds on this module): the 503 to answer, or None when it is not an outage.
OutageCheck = Callable[[Scope, Exception], AppError | None]


def install_error_handlers(app: FastAPI, outage: OutageCheck | None = None) -> None:
    async def app_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AppError)
        return app_error_response(request, exc)

    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return validation_error_response(request, exc)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code, message = _STATUS_CODES.get(exc.status_code, ("HTTP_ERROR", "Request failed"))
        if exc.status_code >= 500:
            code, message = "INTERNAL_ERROR", "Internal server error"
        return error_response(
            exc.status_code,
            code,
            message,
            request_id_of(request),
            None,
            dict(exc.headers) if exc.headers else None,
        )

    async def database_error(request: Request, exc: Exception) -> Response:
        # A number that does not fit its column is the request's fault (money.is_overflow):
        # every write checks its amounts first, so this is the net under a forgotten check.
        # An outage is a 503 (kit.faults); anything else is re-raised to the last-resort 500
        # of the request-id middleware.
        if money.is_overflow(exc):
            return app_error_response(request, amount_limit_error())
        return await unreachable(request, exc)

    async def unreachable(request: Request, exc: Exception) -> Response:
        unavailable = outage(request.scope, exc) if outage is not None else None
        if unavailable is None:
            raise exc
        return app_error_response(request, unavailable)

    async def unexpected(request: Request, exc: Exception) -> Response:
        # FastAPI's own last resort (its ServerErrorMiddleware) answers with the envelope, then
        # re-raises; the request-id middleware outside it logs the error (kit.middleware). An
        # outage that got this far (wrapped in another exception) is still a 503.
        unavailable = outage(request.scope, exc) if outage is not None else None
        if unavailable is not None:
            return app_error_response(request, unavailable)
        return error_response(
            500, "INTERNAL_ERROR", "Internal server error", request_id_of(request)
        )

    app.add_exception_handler(AppError, app_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(StatementError, database_error)
    # The other ways an outage shows (kit.faults.fault_of): a pool that had no connection in
    # time, a socket refused, reset or timed out, Redis unreachable. Anything else re-raised.
    for kind in (SATimeout, DisconnectionError, OSError, RedisError):
        app.add_exception_handler(kind, unreachable)
    app.add_exception_handler(Exception, unexpected)
