"""Stale keep-alive connections: keep idle connections shorter than the server, and recognise
the request a server dropped unread when its keep-alive timer fired.

A server closes a connection that stayed idle for its keep-alive timeout (uvicorn: 5 s) and
discards whatever arrives on it after that moment, unread. A client that reuses the pooled
connection at that instant sees it end ("Server disconnected without sending a response") or
reset, before a byte of response. Two defences:

- ``DEFAULT_LIMITS`` drops idle connections after 2 s, well before the server's 5 s (httpx
  counts from when it finished reading the response, the server from when it sent it).
- ``ConnectionTrace`` follows httpcore's trace events of each request, so the retry loop can
  tell that failure (a *reused* connection, no response head) from a fresh connection dying or
  a response cut short, where the server may have acted on the request.
"""

from __future__ import annotations

from typing import Any

import httpx

KEEPALIVE_EXPIRY = 2.0
# httpx's own pool sizes; only the idle expiry differs from its default (5 s).
DEFAULT_LIMITS = httpx.Limits(
    max_connections=100, max_keepalive_connections=20, keepalive_expiry=KEEPALIVE_EXPIRY
)
TRACE_KEY = "fluide_connection"


class ConnectionTrace:
    """httpcore trace events of one request: did it go out on a reused connection, did the
    response head arrive. Unknown (no events, e.g. a mock transport) counts as not stale."""

    def __init__(self, chained: Any = None) -> None:
        self.chained = chained  # a trace callback the caller set on the request, kept working
        self._connected = False
        self.sent = False
        self.reused = False
        self.response_started = False

    def record(self, name: str) -> None:
        if name.startswith("connection.connect_tcp.") or name.startswith(
            "connection.connect_unix_socket."
        ):
            self._connected = True
        elif name == "http11.send_request_headers.started":
            self.sent, self.reused, self.response_started = True, not self._connected, False
        elif name == "http11.receive_response_headers.complete":
            self.response_started = True

    def __call__(self, name: str, info: dict[str, Any]) -> None:
        self.record(name)
        if self.chained is not None:
            self.chained(name, info)

    async def acall(self, name: str, info: dict[str, Any]) -> None:
        self.record(name)
        if self.chained is not None:
            await self.chained(name, info)


def _caller_trace(request: httpx.Request) -> Any:
    # A request sent again (the auth flow's retry after a 401) still holds our previous trace.
    previous = request.extensions.get(TRACE_KEY)
    if isinstance(previous, ConnectionTrace):
        return previous.chained
    return request.extensions.get("trace")


def install_trace(request: httpx.Request) -> None:
    """httpx ``request`` event hook (sync client): a fresh trace for each request sent."""
    trace = ConnectionTrace(_caller_trace(request))
    request.extensions = {**request.extensions, "trace": trace, TRACE_KEY: trace}


async def ainstall_trace(request: httpx.Request) -> None:
    """The async client's hook: httpcore awaits the trace callback there."""
    trace = ConnectionTrace(_caller_trace(request))
    request.extensions = {**request.extensions, "trace": trace.acall, TRACE_KEY: trace}


def lost_on_stale_connection(exc: httpx.TransportError) -> httpx.Request | None:
    """The request, when ``exc`` is a reused keep-alive connection that ended or was reset
    before the response head; None for anything else (then nothing is known about the request).
    """
    try:
        request = exc.request
    except RuntimeError:  # raised before httpx knew the request
        return None
    trace = request.extensions.get(TRACE_KEY)
    if not isinstance(trace, ConnectionTrace):
        return None
    if not (trace.sent and trace.reused) or trace.response_started:
        return None
    if isinstance(exc, httpx.RemoteProtocolError):
        return request if "without sending a response" in str(exc) else None
    return request if isinstance(exc, httpx.ReadError | httpx.WriteError) else None
