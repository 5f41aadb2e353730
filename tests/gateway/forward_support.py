"""Helpers for the forward-auth tests: a routes file, a small upstream on a real socket, the
app on a real socket (uvicorn in the test's own event loop), and X-Fluide-Context checking."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
import uvicorn
from starlette.types import Receive, Scope, Send

ROUTES_TOML = """
[[route]]
prefix = "/orders"
upstream = "{upstream}"
scopes = {{ GET = "books:read", HEAD = "books:read", "*" = "books:write" }}

[[route]]
prefix = "/admin"
upstream = "{upstream}"
scopes = {{ "*" = "hr:write" }}
audience = "admin-service"

[[route]]
prefix = "/limited"
upstream = "{upstream}"
scopes = {{ GET = "utils:read" }}
limit = "2/minute"
"""


def write_routes(directory: Path, upstream: str = "http://127.0.0.1:9") -> Path:
    path = directory / "routes.toml"
    path.write_text(ROUTES_TOML.format(upstream=upstream))
    return path


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.asynccontextmanager
async def serving(
    app: Any, sock: socket.socket | None = None, **options: Any
) -> AsyncIterator[int]:
    """``app`` served by uvicorn on 127.0.0.1 (``sock``, or a new one) in this event loop;
    yields the port. The app's lifespan is the caller's (the fixtures already started it)."""
    sock = sock or free_socket()
    port: int = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", log_level="warning", **options)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.01)
        yield port
    finally:
        server.should_exit = True
        await task
        sock.close()


class Upstream:
    """A service behind the gateway. It records what it received and answers:
    ``/…/big?n=N`` N bytes streamed in 64 KiB chunks, ``/…/slow`` after 3 s, anything else a
    JSON echo of method, path, headers and the body's length and SHA-256."""

    def __init__(self, jwks_url: str | None = None, issuer: str = "") -> None:
        self.seen: list[dict[str, Any]] = []
        # ``/…/drip`` sends one chunk, then waits for ``release``; a body's first chunk sets
        # ``first_chunk``: together they show that nothing in between buffers.
        self.release = asyncio.Event()
        self.first_chunk = asyncio.Event()
        self.jwks_url = jwks_url
        self.issuer = issuer

    async def _check_context(self, entry: dict[str, Any]) -> None:
        """As a real upstream would: fetch the JWKS, verify X-Fluide-Context for its route."""
        token = entry["headers"].get("x-fluide-context")
        if self.jwks_url is None or not token:
            return
        async with httpx.AsyncClient() as http:
            jwks = (await http.get(self.jwks_url)).json()
        audience = "/" + entry["path"].split("/")[1].split("?")[0]
        try:
            entry["context"] = verify_context(token, jwks, audience, self.issuer)
        except jwt.PyJWTError as exc:
            entry["context_error"] = type(exc).__name__

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        digest, size = hashlib.sha256(), 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            if chunk:
                self.first_chunk.set()
            digest.update(chunk)
            size += len(chunk)
            if not message.get("more_body"):
                break
        raw = scope.get("raw_path") or scope["path"].encode()
        entry = {"method": scope["method"], "path": raw.decode(), "headers": headers}
        entry.update(size=size, sha256=digest.hexdigest(), query=scope["query_string"].decode())
        await self._check_context(entry)
        self.seen.append(entry)
        if scope["path"].endswith("/big"):
            await self._big(send, int(scope["query_string"].decode().split("=")[1]))
            return
        if scope["path"].endswith("/drip"):
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"first", "more_body": True})
            await self.release.wait()
            await send({"type": "http.response.body", "body": b"second"})
            return
        if scope["path"].endswith("/slow"):
            await asyncio.sleep(3)
        body = orjson.dumps(entry)
        start = {"type": "http.response.start", "status": 200}
        extra = [(b"connection", b"x-secret-hop"), (b"x-secret-hop", b"1"), (b"x-kept", b"1")]
        await send({**start, "headers": [(b"content-type", b"application/json"), *extra]})
        await send({"type": "http.response.body", "body": body})

    async def _big(self, send: Send, n: int) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        chunk = b"x" * 65536
        while n > 0:
            await send({"type": "http.response.body", "body": chunk[:n], "more_body": True})
            n -= len(chunk)
        await send({"type": "http.response.body", "body": b""})


def verify_context(token: str, jwks: dict[str, Any], audience: str, issuer: str) -> dict[str, Any]:
    """What an upstream does offline: the JWKS, our issuer, its audience, the context type."""
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "fluide-context+jwt"
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    claims: dict[str, Any] = jwt.decode(
        token,
        jwt.PyJWK(key).key,
        algorithms=[key["alg"]],
        audience=audience,
        issuer=issuer,
        options={"require": ["exp", "iat", "aud", "iss", "sub"]},
    )
    return claims


async def jwks_of(client: httpx.AsyncClient) -> dict[str, Any]:
    resp = await client.get("/.well-known/jwks.json")
    assert resp.status_code == 200
    body: dict[str, Any] = resp.json()
    return body
