"""Error and success responses of an operation: the error envelope, each status's codes with an
example per code, the challenge and ``Retry-After`` headers, and ``error_responses`` for routes
that declare what they raise."""

from __future__ import annotations

from typing import Any

from fluide.apidocs.codes import ErrorCode
from fluide.kit.errors import AppError

_DECLARED = "x-fluide-declared-errors"

ERROR_ENVELOPE: dict[str, Any] = {
    "title": "ErrorEnvelope",
    "type": "object",
    "description": "Every error response (DESIGN §3.1). Branch on `code`; `message` is for people.",
    "required": ["success", "code", "message", "statusCode", "timestamp", "requestId"],
    "properties": {
        "success": {"type": "boolean", "const": False},
        "code": {"type": "string", "examples": ["TOKEN_EXPIRED"]},
        "message": {"type": "string", "examples": ["Access token has expired"]},
        "statusCode": {"type": "integer", "minimum": 400, "maximum": 599},
        "timestamp": {"type": "string", "format": "date-time"},
        "requestId": {"type": "string"},
        "errors": {
            "type": "object",
            "description": "Only for `VALIDATION_FAILED`: field → messages.",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
    "additionalProperties": False,
}

_STATUS_TEXT = {
    400: "Bad request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}


def _envelope(err: ErrorCode) -> dict[str, Any]:
    body: dict[str, Any] = {
        "success": False,
        "code": err.code,
        "message": err.message,
        "statusCode": err.status,
        "timestamp": "2026-11-27T12:00:00.000Z",
        "requestId": "5f2b8c1e9a7d4f3b8e6a1c2d3e4f5a6b",
    }
    if err.code == "VALIDATION_FAILED":
        body["errors"] = {"field": ["is required"]}
    return body


def error_responses(*errors: type[AppError]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route that can raise these ``AppError``s beyond the guard's.

    ``@router.post("/employees", responses=error_responses(EmployeeExists))`` lists
    ``EMPLOYEE_EXISTS`` under 409 with the envelope schema and an example.
    """
    out: dict[int | str, dict[str, Any]] = {}
    for exc in errors:
        entry = out.setdefault(exc.status, {"description": "Error", _DECLARED: []})
        entry[_DECLARED].append({"code": exc.code, "message": exc.message})
    return out


def declared_codes(responses: dict[str, Any]) -> list[ErrorCode]:
    found: list[ErrorCode] = []
    for status, resp in list(responses.items()):
        declared = resp.pop(_DECLARED, None) if isinstance(resp, dict) else None
        if declared:
            found += [ErrorCode(int(status), d["code"], d["message"]) for d in declared]
            del responses[status]  # rebuilt with the envelope and every code of its status
    return found


def add_error_responses(responses: dict[str, Any], codes: list[ErrorCode]) -> None:
    by_status: dict[int, list[ErrorCode]] = {}
    for err in codes:
        by_status.setdefault(err.status, []).append(err)
    for status, errs in sorted(by_status.items()):
        key = str(status)
        declared = responses.get(key)
        if declared is not None and _has_schema(declared):
            # The route documents this status itself (e.g. a health check's 503 body).
            continue
        listing = "\n".join(f"- `{e.code}`: {e.message}" for e in errs)
        response: dict[str, Any] = {
            "description": f"{_STATUS_TEXT.get(status, 'Error')}. Codes:\n\n{listing}",
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/ErrorEnvelope"},
                    "examples": {
                        e.code: {"summary": e.message, "value": _envelope(e)} for e in errs
                    },
                }
            },
            "x-error-codes": [e.code for e in errs],
        }
        headers = _error_headers(status, errs)
        if headers:
            response["headers"] = headers
        responses[key] = response


def _has_schema(response: dict[str, Any]) -> bool:
    """FastAPI gives a declared response without a model the JSON schema ``{}``."""
    return any(m.get("schema") not in (None, {}) for m in response.get("content", {}).values())


def _error_headers(status: int, errs: list[ErrorCode]) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if status == 401:  # every 401 carries a challenge (DESIGN §3.1)
        codes = {e.code for e in errs}
        if "DEVELOPER_KEYS_INVALID" in codes:
            what = "`FluideApiKey` challenge naming the key, secret and client-id headers."
        elif "SESSION_REQUIRED" in codes or "INVALID_CREDENTIALS" in codes:
            what = '`Bearer realm="fluide-account"` (a session token), `FluidePassword` on sign-in.'
        else:
            what = '`Bearer` challenge (RFC 6750; `error="invalid_request"` or `"invalid_token"`).'
        headers["WWW-Authenticate"] = {"description": what, "schema": {"type": "string"}}
    if status == 429:
        headers["Retry-After"] = {
            "description": "Seconds to wait before retrying.",
            "schema": {"type": "string"},
        }
    return headers


def fix_empty_success(responses: dict[str, Any]) -> None:
    """Routes that return a bare ``Response`` have no body: FastAPI still declares JSON ``{}``."""
    for status in ("202", "204"):
        resp = responses.get(status)
        if resp is None:
            continue
        content = resp.get("content")
        if content and content.get("application/json", {}).get("schema") == {}:
            resp.pop("content")
            resp["description"] = "Accepted" if status == "202" else "No content"
