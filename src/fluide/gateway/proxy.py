"""The built-in proxy (DESIGN §3.9): a request on a route with an upstream URL, once the guard
let it through (``gateway.middleware``), is forwarded there with httpx.

Bodies stream both ways (nothing is buffered: the request's chunks go out as they arrive, the
upstream's come back as they arrive). Hop-by-hop headers (RFC 9110 §7.6.1, and every header the
``Connection`` header names) are dropped both ways. Toward the upstream the caller's credentials
never go (``X-Fluide-Api-Secret``, ``Authorization``, ``X-Fluide-Api-Key``) nor any identity
header the caller sent; the guard's own identity headers are added. The upstream not answering
in time is a 504, not reachable a 502, both in the error envelope (code ``INTERNAL_ERROR``: a
5xx says nothing more, DESIGN §3.1).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
from starlette.types import Receive, Scope, Send

from fluide.kit.errors import AppError

log = logging.getLogger("fluide.gateway.proxy")

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
NEVER_UPSTREAM = frozenset(
    {
        b"host",
        b"authorization",
        b"x-fluide-api-key",
        b"x-fluide-api-secret",
        b"x-fluide-client-id",
        b"x-fluide-tenant-id",
        b"x-fluide-credential-id",
        b"x-fluide-scopes",
        b"x-fluide-context",
        # The client's act-as headers: the guard checked them, the upstream gets its verdict.
        b"x-workspace-id",
        b"x-acting-company-id",
        b"x-fluide-workspace-id",
        b"x-fluide-company-id",
        b"x-forwarded-for",
        b"x-forwarded-host",
        b"x-forwarded-proto",
    }
)


class UpstreamTimeout(AppError):
    status, code, message = 504, "INTERNAL_ERROR", "The upstream service did not answer in time"


class UpstreamUnavailable(AppError):
    status, code, message = 502, "INTERNAL_ERROR", "The upstream service is unavailable"


class _Disconnected(Exception):
    pass


def _dropped(headers: list[tuple[bytes, bytes]]) -> set[bytes]:
    """Hop-by-hop names: the fixed ones and those the ``Connection`` header lists."""
    names = set(HOP_BY_HOP)
    for name, value in headers:
        if name.lower() == b"connection":
            names.update(v.strip().lower() for v in value.split(b",") if v.strip())
    return names


def upstream_headers(
    scope: Scope, identity: list[tuple[bytes, bytes]], client: str | None
) -> list[tuple[bytes, bytes]]:
    raw: list[tuple[bytes, bytes]] = scope["headers"]
    drop = _dropped(raw) | NEVER_UPSTREAM
    out = [(n, v) for n, v in raw if n.lower() not in drop]
    host = next((v for n, v in raw if n == b"host"), b"")
    if host:
        out.append((b"x-forwarded-host", host))
    out.append((b"x-forwarded-proto", scope.get("scheme", "http").encode()))
    if client:
        out.append((b"x-forwarded-for", client.encode()))
    out.extend(identity)
    return out


def response_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    drop = _dropped(headers)
    return [(n, v) for n, v in headers if n.lower() not in drop]


def _has_body(scope: Scope) -> bool:
    return any(n in (b"content-length", b"transfer-encoding") for n, _ in scope["headers"])


async def _request_body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


class Forwarder:
    """One httpx client (its connection pool) for every upstream; closed on stop."""

    def __init__(self, timeout: float) -> None:
        self._timeout = httpx.Timeout(timeout, connect=min(timeout, 5.0))
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self._timeout, follow_redirects=False, trust_env=False
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        url: str,
        headers: list[tuple[bytes, bytes]],
    ) -> int:
        """Send the request upstream and stream the answer back; the status sent. Raises
        ``UpstreamTimeout`` / ``UpstreamUnavailable`` before the answer has started."""
        http = self._http()
        content = _request_body(receive) if _has_body(scope) else None
        request = http.build_request(scope["method"], url, headers=headers, content=content)
        try:
            response = await http.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout from exc
        except (httpx.TransportError, _Disconnected) as exc:
            raise UpstreamUnavailable from exc
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": response_headers(list(response.headers.raw)),
                }
            )
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        except (httpx.TransportError, OSError) as exc:
            # The answer has started: nothing to do but leave the response unfinished, which
            # closes the connection (the client sees a truncated body, not a false success).
            log.warning("upstream stream broke", extra={"error_type": type(exc).__name__})
        finally:
            await response.aclose()
        return response.status_code
