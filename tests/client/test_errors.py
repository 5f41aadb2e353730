"""Error envelopes become typed exceptions that keep code, status and request id, and print
no secret."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fluide.client import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    FluideError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    ValidationError,
)
from fluide.client._errors import error_from_response


def envelope(status: int, code: str, **extra: Any) -> dict[str, Any]:
    return {
        "success": False,
        "code": code,
        "message": f"{code} happened",
        "statusCode": status,
        "timestamp": "2026-11-28T00:00:00.000Z",
        "requestId": "req-123",
        **extra,
    }


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (400, "API_SECRET_NOT_ALLOWED", BadRequestError),
        (400, "VALIDATION_FAILED", ValidationError),
        (401, "DEVELOPER_KEYS_INVALID", AuthenticationError),
        (403, "EMAIL_NOT_VERIFIED", PermissionDeniedError),
        (404, "NOT_FOUND", NotFoundError),
        (409, "CONFLICT", ConflictError),
        (429, "RATE_LIMITED", RateLimitError),
        (500, "INTERNAL_ERROR", ServerError),
        (503, "SERVICE_UNAVAILABLE", ServerError),
        (418, "TEAPOT", APIError),
    ],
)
def test_mapping(status: int, code: str, cls: type[APIError]) -> None:
    err = error_from_response(httpx.Response(status, json=envelope(status, code)))
    assert type(err) is cls and isinstance(err, FluideError)
    assert (err.code, err.status, err.request_id) == (code, status, "req-123")
    assert str(err) == f"{code} {status}: {code} happened (request id req-123)"
    assert repr(err) == (f"{cls.__name__}(code={code!r}, status={status!r}, request_id='req-123')")


def test_details() -> None:
    v = error_from_response(
        httpx.Response(400, json=envelope(400, "VALIDATION_FAILED", errors={"name": ["short"]}))
    )
    assert isinstance(v, ValidationError) and v.errors == {"name": ["short"]}
    p = error_from_response(
        httpx.Response(
            403,
            json=envelope(403, "INSUFFICIENT_SCOPE"),
            headers={"WWW-Authenticate": 'Bearer error="insufficient_scope", scope="hr:write"'},
        )
    )
    assert isinstance(p, PermissionDeniedError) and p.scope == "hr:write"
    r = error_from_response(
        httpx.Response(429, json=envelope(429, "RATE_LIMITED"), headers={"Retry-After": "12"})
    )
    assert isinstance(r, RateLimitError) and r.retry_after == 12


def test_a_body_that_is_not_an_envelope() -> None:
    err = error_from_response(
        httpx.Response(502, text="<html>bad gateway</html>", headers={"X-Request-Id": "r9"})
    )
    assert isinstance(err, ServerError)
    assert (err.code, err.status, err.request_id) == ("HTTP_502", 502, "r9")
