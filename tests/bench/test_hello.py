"""The bench's reference apps answer as the ceiling rows assume: 200 and the same JSON body."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from bench.hello import BODY, fastapi_app, raw_app


@pytest.mark.parametrize("app", [raw_app, fastapi_app], ids=["raw", "fastapi"])
async def test_hello_answers_ok(app: Any) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hello") as client:
        resp = await client.get("/")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    assert resp.content == BODY


async def test_raw_hello_speaks_the_lifespan_protocol() -> None:
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    for kind in ("lifespan.startup", "lifespan.shutdown"):
        inbox.put_nowait({"type": kind})
    await asyncio.wait_for(raw_app({"type": "lifespan"}, inbox.get, send), timeout=5)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
