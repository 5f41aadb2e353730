"""The reference apps of the bench's ceiling rows: the least a request can cost on each HTTP
server, as a raw ASGI callable and as a FastAPI route (issue 19). Both answer ``GET /`` with
the same small JSON body; nothing of Fluide Connect is imported."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

BODY = b'{"status":"ok"}'
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(BODY))]


async def raw_app(scope: Scope, receive: Receive, send: Send) -> None:
    """A raw ASGI hello (with the lifespan protocol, which both servers speak)."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": BODY})


fastapi_app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@fastapi_app.get("/")
async def hello() -> dict[str, str]:
    return {"status": "ok"}
