"""The session-wide leak scanner: no secret or token the tests issued may reach a log.

How it works (installed by tests/conftest.py at session start, checked at session end):

* every value the code under test *creates* is registered by wrapping its one factory:
  ``formats.new_api_secret`` (API secrets), ``formats.new_session_token`` (dashboard sessions)
  and ``jwt_core.mint`` (access tokens); values seen by tests over HTTP from subprocess servers
  are registered by the tests (``register_secret``, ``register_from_json``);
* every log record of every logger is captured *raw* (message, arguments, extra fields and
  the formatted traceback) by wrapping ``logging.Logger.handle``: a value the redacting
  formatter would mask still counts, since redaction is a second line, not the first;
* the stderr files of the servers our tests start are registered and read at the end.

Matching is by a 24-character tail of each value (the random part and its checksum for a
secret, the signature for a JWT), so a truncated value in a log is found too, and the scan
stays linear in the size of the logs.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WINDOW = 24
_RESERVED = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


@dataclass(frozen=True)
class Leak:
    where: str
    kind: str

    def __str__(self) -> str:
        # Never print the value itself: the report would be a leak of its own.
        return f"a {self.kind} appeared in {self.where}"


@dataclass
class LeakScanner:
    """Values to look for, text to look in. Thread-safe: servers log from other threads."""

    values: dict[str, str] = field(default_factory=dict)  # tail window → kind
    texts: list[tuple[str, str]] = field(default_factory=list)  # (where, text)
    files: list[Path] = field(default_factory=list)
    records_seen: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def register(self, value: str, kind: str = "secret") -> None:
        if not value or len(value) < 16:
            return
        with self._lock:
            self.values[value[-WINDOW:]] = kind

    def feed(self, where: str, text: str) -> None:
        with self._lock:
            self.records_seen += 1
            self.texts.append((where, text))

    def feed_record(self, record: logging.LogRecord) -> None:
        parts = [record.getMessage()]
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                parts.append(f"{key}={value!r}")
        if record.exc_info and record.exc_info[1] is not None:
            parts.append("".join(traceback.format_exception(record.exc_info[1])))
        if record.stack_info:
            parts.append(record.stack_info)
        self.feed(f"log record of {record.name!r}", "\n".join(parts))

    def add_file(self, path: Path) -> None:
        with self._lock:
            self.files.append(path)

    def _windows(self) -> dict[str, str]:
        with self._lock:
            return dict(self.values)

    def scan(self) -> list[Leak]:
        index = self._windows()
        if not index:
            return []
        found: list[Leak] = []
        with self._lock:
            texts = list(self.texts)
            files = list(self.files)
        for path in files:
            if path.exists():
                texts.append((f"server stderr {path.name}", path.read_text(errors="replace")))
        for where, text in texts:
            kind = _search(text, index)
            if kind is not None:
                found.append(Leak(where, kind))
        return found


def _search(text: str, index: dict[str, str]) -> str | None:
    if len(text) < WINDOW:
        return None
    for i in range(len(text) - WINDOW + 1):
        kind = index.get(text[i : i + WINDOW])
        if kind is not None:
            return kind
    return None


SCANNER = LeakScanner()


def register_secret(value: str, kind: str = "secret") -> None:
    SCANNER.register(value, kind)


def register_server_log(path: Path) -> None:
    SCANNER.add_file(path)


_SENSITIVE_FIELDS = {
    "accessToken": "access token",
    "apiSecret": "secret",
    "sessionToken": "session",
}


def register_from_json(body: Any) -> None:
    """Register every secret-bearing field of a response body (any depth)."""
    if isinstance(body, dict):
        for key, value in body.items():
            if key in _SENSITIVE_FIELDS and isinstance(value, str):
                register_secret(value, _SENSITIVE_FIELDS[key])
            else:
                register_from_json(value)
    elif isinstance(body, list):
        for item in body:
            register_from_json(item)


def _wrap_factory(module: Any, name: str, kind: str) -> None:
    original: Callable[..., str] = getattr(module, name)
    if getattr(original, "_leak_wrapped", False):
        return

    def wrapper(*args: Any, **kwargs: Any) -> str:
        value = original(*args, **kwargs)
        register_secret(value, kind)
        return value

    wrapper._leak_wrapped = True  # type: ignore[attr-defined]
    setattr(module, name, wrapper)


_installed = False


def install() -> None:
    """Hook the factories and the logging system (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    from fluide.identity import formats, jwt_core

    _wrap_factory(formats, "new_api_secret", "secret")
    _wrap_factory(formats, "new_session_token", "session")
    _wrap_factory(jwt_core, "mint", "access token")

    original_handle = logging.Logger.handle

    def handle(self: logging.Logger, record: logging.LogRecord) -> None:
        try:
            SCANNER.feed_record(record)
        except Exception:  # the scanner must never change what the code under test does
            SCANNER.feed(f"log record of {record.name!r}", str(record.msg))
        original_handle(self, record)

    logging.Logger.handle = handle  # type: ignore[method-assign]
    # INFO lines exist only if a logger is enabled for them: turn ours and uvicorn's on.
    for name in ("fluide", "uvicorn"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level > logging.DEBUG:
            logger.setLevel(logging.DEBUG)
