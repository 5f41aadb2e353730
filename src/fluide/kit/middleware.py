"""Request ids, the request's observation and the last-resort 500 envelope, as a pure ASGI
middleware (no per-request task).

The outermost layer: it stamps the request id (into the scope, the answer's headers and
``kit.logging.request_id`` so every log line written meanwhile carries it), times the request
from its arrival to its answer's last byte, and hands the scope, status and seconds to
``observe`` (the app passes the gateway's: metrics and the access log), whatever answered it,
an inner layer's refusal and the last-resort 500 included.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fluide.kit import faults
from fluide.kit.errors import DEFAULT_CHALLENGE, send_error
from fluide.kit.logging import request_id as request_id_var
from fluide.kit.logging import sensitive

Observe = Callable[[Scope, int, float], None]

# The request state's key for headers an inner layer adds to whatever answer the request gets
# (a list of raw header pairs): the guard's rate-limit headers. Added here, in the one wrapper
# every answer passes, rather than by a ``send`` wrapper of the inner layer's own.
RESPONSE_HEADERS = "response_headers"

log = logging.getLogger("fluide.http")
_SANE_ID = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp, observe: Observe | None = None) -> None:
        self.app = app
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at = time.perf_counter()
        rid = b""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                rid = value
                break
        if not _SANE_ID.match(rid) or (rid and sensitive(rid.decode())):
            # A client's id is kept when it is sane and not a credential (it is logged, echoed
            # and audited). Else 128 random bits as 32 hex digits, like uuid4().hex.
            rid = os.urandom(16).hex().encode()
        request_id = rid.decode()
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        token = request_id_var.set(request_id)
        started = finished = False
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal started, finished, status
            if message["type"] == "http.response.body" and not message.get("more_body"):
                finished = True
            elif message["type"] == "http.response.start":
                started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid))
                added = state.get(RESPONSE_HEADERS)
                if added:
                    headers.extend(added)
                if message["status"] == 401 and not any(
                    name.lower() == b"www-authenticate" for name, _ in headers
                ):
                    # The last resort of DESIGN §3.1 "every 401 carries WWW-Authenticate": the
                    # error classes set the precise challenge; a 401 from anywhere else (a
                    # plain response, a framework's) still gets one.
                    headers.append((b"www-authenticate", DEFAULT_CHALLENGE.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self._answer(scope, receive, send_with_id, rid, lambda: (started, finished))
        finally:
            if self.observe is not None:
                self.observe(scope, status, time.perf_counter() - started_at)
            request_id_var.reset(token)

    async def _answer(
        self,
        scope: Scope,
        receive: Receive,
        send_with_id: Send,
        rid: bytes,
        progress: Callable[[], tuple[bool, bool]],
    ) -> None:
        request_id = rid.decode()
        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            started, finished = progress()
            if await _outage(scope, send_with_id, exc, request_id, started, finished):
                return
            # Only the type and the route: an exception's text can carry SQL or values.
            log.error(
                "unhandled error",
                extra={
                    "error_type": type(exc).__name__,
                    "path": scope.get("path", ""),
                    "request_id": request_id,
                },
            )
            if finished:
                # The whole answer is out (FastAPI's last resort sent the envelope and re-raised
                # so that someone logs it: done above); there is nothing left to spoil.
                return
            if started:
                raise
            await send_error(
                send_with_id,
                500,
                "INTERNAL_ERROR",
                "Internal server error",
                request_id,
            )


async def _outage(
    scope: Scope, send: Send, exc: Exception, request_id: str, started: bool, finished: bool
) -> bool:
    """An outage (not a bug): answered 503 (kit.faults) unless an answer is already out, and
    logged once per outage there. False for anything else."""
    if started:  # answered inside (FastAPI's last resort says 503 for an outage too)
        return finished and faults.fault_of(exc) is not None
    unavailable = faults.noted(scope, exc)
    if unavailable is None:
        return False
    headers = [(k.lower().encode(), v.encode()) for k, v in unavailable.headers.items()]
    await send_error(
        send, unavailable.status, unavailable.code, unavailable.message, request_id, headers=headers
    )
    return True
