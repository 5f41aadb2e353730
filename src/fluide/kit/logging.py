"""Structured logs that cannot carry a secret, a token or an API key.

``request_id`` holds the id of the request being served (set by ``kit.middleware``); the
handler's ``RequestIdFilter`` writes it on every line logged meanwhile, from any logger under
``fluide``. ``ACCESS`` is the access log's logger (``gateway.access``: one line per request).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from typing import Any, TextIO

import orjson

from fluide.kit.clock import iso_z, system_clock

# Anything that looks like one of our credentials or a JWT is masked before it is written.
_SENSITIVE = re.compile(
    r"(fl_(?:dev|sk|sess)_[A-Za-z0-9]{6,})"
    r"|(eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*)"
    r"|((?i:bearer)\s+[A-Za-z0-9._~+/=-]{8,})"
)


def _may_hold_credential(text: str) -> bool:
    """False only when ``_SENSITIVE`` cannot match: each of its shapes holds ``fl_``, ``eyJ``
    or a case variant of ``bearer`` (no code point other than a case of those letters matches
    them under IGNORECASE: tests/kit/test_logging.py checks every one). The access log writes a
    line per request; this keeps the regex off the lines that hold none of them."""
    return "fl_" in text or "eyJ" in text or "bearer" in text.lower()


def sensitive(text: str) -> bool:
    """Whether ``text`` holds anything shaped like one of our credentials or a JWT."""
    return _may_hold_credential(text) and _SENSITIVE.search(text) is not None


def redact(text: str) -> str:
    def mask(m: re.Match[str]) -> str:
        value = m.group(0)
        if value.lower().startswith("bearer"):
            return "Bearer [redacted]"
        if value.startswith("fl_"):
            return value[: value.index("_", 3) + 1] + "[redacted]"
        return "[redacted-jwt]"

    if not _may_hold_credential(text):
        return text
    return _SENSITIVE.sub(mask, text)


request_id: ContextVar[str | None] = ContextVar("fluide_request_id", default=None)
ACCESS = "fluide.access"


class RequestIdFilter(logging.Filter):
    """Adds the request id of the request being served to a record that has none."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            rid = request_id.get()
            if rid is not None:
                record.request_id = rid
        return True


_RESERVED = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": iso_z(system_clock()),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                payload[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            payload["error_type"] = record.exc_info[0].__name__
        try:
            # orjson: a fifth of json's cost, and the access log writes a line per request.
            line = orjson.dumps(payload, default=str).decode()
        except TypeError:  # what orjson refuses (an int beyond 64 bits, a non-str key)
            line = json.dumps(payload, default=str)
        return redact(line)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = {
            k: v for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_")
        }
        tail = " ".join(f"{k}={v}" for k, v in extras.items())
        return redact(f"{record.levelname:<7} {record.name}: {record.getMessage()} {tail}".rstrip())


def configure_logging(
    level: str = "INFO", json_lines: bool = True, stream: TextIO | None = None
) -> None:
    """Our loggers' one handler (``stream``: standard error), with the request id filter."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger("fluide")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    # uvicorn's access log prints raw request lines; ours (with ids, without values) replaces it.
    logging.getLogger("uvicorn.access").disabled = True
