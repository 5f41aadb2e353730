"""Request ids and the last-resort 500 envelope, as a pure ASGI middleware (no per-request task)."""

from __future__ import annotations

import logging
import os
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fluide.kit import faults
from fluide.kit.errors import DEFAULT_CHALLENGE, send_error

log = logging.getLogger("fluide.http")
_SANE_ID = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = b""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                rid = value
                break
        if not _SANE_ID.match(rid):
            # 128 random bits as 32 hex digits, like uuid4().hex without building a UUID.
            rid = os.urandom(16).hex().encode()
        request_id = rid.decode()
        scope.setdefault("state", {})["request_id"] = request_id
        started = finished = False

        async def send_with_id(message: Message) -> None:
            nonlocal started, finished
            if message["type"] == "http.response.body" and not message.get("more_body"):
                finished = True
            elif message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid))
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
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if await _outage(scope, send, exc, request_id, rid, started, finished):
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
            if finished:  # the envelope is out (FastAPI's last resort re-raised it to be logged)
                return
            if started:
                raise
            await send_error(
                send,
                500,
                "INTERNAL_ERROR",
                "Internal server error",
                request_id,
                headers=[(b"x-request-id", rid)],
            )


async def _outage(
    scope: Scope,
    send: Send,
    exc: Exception,
    request_id: str,
    rid: bytes,
    started: bool,
    finished: bool,
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
        send,
        unavailable.status,
        unavailable.code,
        unavailable.message,
        request_id,
        headers=[*headers, (b"x-request-id", rid)],
    )
    return True
