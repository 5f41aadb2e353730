"""Input limits as a pure ASGI middleware: body size, header size, JSON depth, header bytes,
and no NUL character anywhere (path, query, headers, body).

Installed just inside the request-id middleware, so every refusal is the DESIGN §3.1 envelope
and carries ``X-Request-Id``. The body is read (and counted) before the app runs: a
``Content-Length`` is only a hint, a chunked or lying body is cut off at the limit, and the
app never sees a partial body. Buffering up to the limit (1 MiB by default) is the price; the
API takes small JSON documents only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fluide.kit.errors import AppError, send_error

# Headers the service reads as credentials. Their values must be visible ASCII (space
# allowed): keys, secrets, tokens, client ids and scopes never hold anything else, and
# refusing early keeps control characters and undecodable bytes out of comparisons, logs and
# audit rows. Cookies are left alone: a browser sends whatever other sites on the domain set.
_CHECKED_PREFIX = b"x-fluide-"
_CHECKED = frozenset({b"authorization"})
_PRINTABLE = re.compile(rb"^[\x20-\x7e]*$")
# A JSON string, or one bracket outside strings (the regex engine skips string bodies fast).
_JSON_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
# NUL (U+0000) is never valid input: PostgreSQL cannot store it in a text column (the insert
# or the query fails: a 500), SQLite would keep it and hand it to every reader. Refused at the
# edge for every route, wherever it hides: the decoded path, the query string (``%00``), a
# header, a JSON body's ``\u0000`` escape (in a value or a key; not an escaped backslash
# followed by "u0000"), a form's ``%00``, or a raw NUL byte in any body.
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
# (``0 in data`` tests a byte without the buffer protocol: about 8 times faster than
# ``b"\x00" in data``, which matters for a test on every header of every request.)
_FORM = b"application/x-www-form-urlencoded"
_NO_NUL = "must not contain the NUL character (U+0000)"
_PERCENT = ord("%")


def nul_in_body(body: bytes, content_type: bytes) -> bool:
    """True when ``body`` would decode to a string holding NUL (linear; no parse)."""
    if 0 in body:
        return True
    if not content_type or b"json" in content_type:
        return b"\\u0000" in body and _JSON_NUL.search(body) is not None
    if content_type.startswith(_FORM):
        return b"%00" in body
    return False


def _nul_in_target(scope: Scope) -> str | None:
    """Where a NUL sits in the request target ("path" / "query"), if anywhere."""
    if "\x00" in scope["path"]:
        return "path"
    query: bytes = scope.get("query_string", b"")
    if 0 in query or (_PERCENT in query and b"%00" in query):
        return "query"
    return None


def json_depth_exceeds(body: bytes, max_depth: int) -> bool:
    """True when ``body`` nests arrays/objects deeper than ``max_depth`` (no recursion, linear)."""
    if body.count(b"[") + body.count(b"{") <= max_depth:
        return False
    depth = 0
    for match in _JSON_TOKEN.finditer(body):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > max_depth:
                return True
        elif token in (b"]", b"}"):
            depth -= 1
    return False


class LimitsMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int = 1024 * 1024,
        max_header_bytes: int = 16 * 1024,
        max_header_value_bytes: int = 8 * 1024,
        max_json_depth: int = 64,
        streamed: Callable[[Scope], bool] | None = None,
    ) -> None:
        self.app = app
        # Requests whose body is not ours to read (the built-in proxy's routes): headers and
        # target are checked as for any request, the body only counted as it streams through.
        self.streamed = streamed
        self.max_body_bytes = max_body_bytes
        self.max_header_bytes = max_header_bytes
        self.max_header_value_bytes = max_header_value_bytes
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = await self._check_head(scope, send)
        if head is None:
            return
        content_type, declared = head
        if self.streamed is not None and self.streamed(scope):
            await self.app(scope, self._counting(receive), send)
            return
        body = await self._read_body(scope, receive, send, declared)
        if body is None:
            return
        if body and nul_in_body(body, content_type):
            await _refuse_nul(scope, send, "body")
            return
        if (
            body
            and (not content_type or b"json" in content_type)
            and json_depth_exceeds(body, self.max_json_depth)
        ):
            await _refuse(
                scope,
                send,
                400,
                "VALIDATION_FAILED",
                "Request validation failed",
                {"body": [f"JSON nested deeper than {self.max_json_depth} levels"]},
            )
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            # After the body: wait for the disconnect, as usual. A body read to its declared
            # length may still have its server's closing empty message to come (_read_body):
            # the app has had the whole body, so that is passed over.
            message = await receive()
            while message["type"] == "http.request":
                message = await receive()
            return message

        await self.app(scope, replay, send)

    async def _check_head(self, scope: Scope, send: Send) -> tuple[bytes, int | None] | None:
        """Headers, target and declared length, in that order: the request's content type
        (lowercased) and declared length (None without ``Content-Length``), or None once a
        refusal has been sent."""
        head = _scan_headers(scope["headers"], self.max_header_value_bytes)
        if head.value_too_large or head.total > self.max_header_bytes:
            await _refuse(scope, send, 431, "HEADERS_TOO_LARGE", "Request headers too large")
            return None
        if head.bad_header is not None:
            await _refuse(
                scope,
                send,
                400,
                "VALIDATION_FAILED",
                "Request validation failed",
                {_header_label(head.bad_header): [head.problem]},
            )
            return None
        if (where := _nul_in_target(scope)) is not None:
            await _refuse_nul(scope, send, where)
            return None
        if head.content_length is not None:
            try:
                declared = int(head.content_length)
            except ValueError:
                declared = -1
            if declared < 0:
                await _refuse(
                    scope,
                    send,
                    400,
                    "VALIDATION_FAILED",
                    "Request validation failed",
                    {"Content-Length": ["must be a non-negative integer"]},
                )
                return None
            if declared > self.max_body_bytes:
                await _refuse(scope, send, 413, "PAYLOAD_TOO_LARGE", "Request body too large")
                return None
            return head.content_type, None if head.transfer_encoding else declared
        return head.content_type, None

    async def _read_body(
        self, scope: Scope, receive: Receive, send: Send, declared: int | None
    ) -> bytes | None:
        """The whole body, counted as it arrives; None once refused (or the client left).

        With a ``Content-Length`` the body is whole once that many bytes came: the server frames
        the request by it and never hands over more. Granian sends such a body as its bytes
        with ``more_body`` and then an empty closing message; waiting for that one costs the
        task a suspension and the loop a turn, about 8 µs of server CPU per request with a body
        (a raw ASGI app measured under wrk: docs/performance.md). Without a length, or with a
        ``Transfer-Encoding`` beside it (which frames the body instead: ``_check_head`` then
        gives no length), the end is the message without ``more_body``, as before."""
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: nothing to answer
                return None
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_body_bytes:
                await _refuse(scope, send, 413, "PAYLOAD_TOO_LARGE", "Request body too large")
                return None
            chunks.append(chunk)
            if not message.get("more_body", False) or received == declared:
                return b"".join(chunks)

    def _counting(self, receive: Receive) -> Receive:
        """``receive`` that raises ``BodyTooLarge`` once the body passes the limit."""
        return _counting_receive(receive, self.max_body_bytes)


class BodyTooLarge(AppError):
    status, code, message = 413, "PAYLOAD_TOO_LARGE", "Request body too large"


def _counting_receive(receive: Receive, limit: int) -> Receive:
    received = 0

    async def counted() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge
        return message

    return counted


@dataclass(slots=True)
class _Head:
    """What one pass over the headers found."""

    total: int = 0
    content_length: bytes | None = None
    content_type: bytes = b""
    bad_header: str | None = None
    problem: str = ""
    value_too_large: bool = False
    # A Transfer-Encoding frames the body, not the Content-Length (RFC 9112 §6.3): the body is
    # then read to its last message, whatever length is declared.
    transfer_encoding: bool = False


def _scan_headers(headers: list[tuple[bytes, bytes]], max_value_bytes: int) -> _Head:
    """Sizes, the two body headers, and the first header with a forbidden byte. Stops at the
    first value over ``max_value_bytes`` (refused before anything else)."""
    # Locals, not the result's attributes, in the loop: it runs once per header per request.
    total = 0
    content_length: bytes | None = None
    content_type = b""
    bad_header: str | None = None
    problem = ""
    transfer_encoding = False
    for name, value in headers:
        size = len(value)
        total += len(name) + size
        if size > max_value_bytes:
            return _Head(total, content_length, content_type, bad_header, problem, True)
        if name == b"content-length":
            content_length = value
        elif name == b"content-type":
            content_type = value.lower()
        elif bad_header is None:
            if name in _CHECKED or name.startswith(_CHECKED_PREFIX):
                if not _PRINTABLE.match(value):  # NUL included
                    bad_header, problem = name.decode("latin-1"), "must be printable ASCII"
            elif 0 in value:
                bad_header, problem = name.decode("latin-1"), _NO_NUL
            # (Only looked for while nothing is refused: a refused request's body is not read.)
            if name == b"transfer-encoding":
                transfer_encoding = True
    return _Head(total, content_length, content_type, bad_header, problem, False, transfer_encoding)


async def _refuse_nul(scope: Scope, send: Send, where: str) -> None:
    await _refuse(
        scope, send, 400, "VALIDATION_FAILED", "Request validation failed", {where: [_NO_NUL]}
    )


def _header_label(name: str) -> str:
    return "-".join(part.capitalize() for part in name.split("-"))


async def _refuse(
    scope: Scope,
    send: Send,
    status: int,
    code: str,
    message: str,
    errors: dict[str, list[str]] | None = None,
) -> None:
    request_id = str(scope.get("state", {}).get("request_id") or "-")
    # The rest of an oversized request is not read: the connection cannot be reused.
    await send_error(send, status, code, message, request_id, errors, [(b"connection", b"close")])
