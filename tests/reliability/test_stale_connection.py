"""``crash.send``'s stale-connection resend, against a server that closes a kept-alive connection.

The server answers the first request on each connection with keep-alive, then reads the next
request and closes the connection without a byte of response: what a uvicorn process does when
its keep-alive timeout fires as the request arrives. Only a repeatable request (idempotent
method, or an ``Idempotency-Key``) on the reused connection is resent; anything else stays an
unknown outcome that the load test fails on.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.reliability.crash import Tally, send

OK = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok"


class ClosingServer:
    """Answers ``answer_first`` requests per connection, then drops the connection unanswered."""

    def __init__(self, answer_first: int) -> None:
        self.answer_first = answer_first
        self.requests_read = 0
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        answered = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests_read += 1
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                if answered >= self.answer_first:
                    break
                writer.write(OK)
                await writer.drain()
                answered += 1
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def closing() -> AsyncIterator[tuple[ClosingServer, str]]:
    app = ClosingServer(answer_first=1)
    server = await asyncio.start_server(app.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield app, f"http://127.0.0.1:{port}"


async def test_a_repeatable_request_on_a_stale_connection_is_resent_once(
    closing: tuple[ClosingServer, str],
) -> None:
    app, url = closing
    tally = Tally()
    async with httpx.AsyncClient(base_url=url) as client:
        first = await send(client, tally, "get", "GET", "/a", retry_stale=True)
        again = await send(client, tally, "get", "GET", "/a", retry_stale=True)
        keyed = await send(
            client,
            tally,
            "post",
            "POST",
            "/b",
            retry_stale=True,
            headers={"Idempotency-Key": "k1"},
            json={},
        )
    assert first.response is not None and again.response is not None
    assert keyed.response is not None and keyed.response.status_code == 200
    assert tally.unknown == 0 and tally.requests == 3
    assert len(tally.stale_retries) == 2, tally.stale_retries
    assert all("on a reused connection" in r for r in tally.stale_retries)
    assert app.connections == 3


async def test_a_plain_post_on_a_stale_connection_is_not_resent(
    closing: tuple[ClosingServer, str],
) -> None:
    _, url = closing
    tally = Tally()
    async with httpx.AsyncClient(base_url=url) as client:
        await send(client, tally, "get", "GET", "/a", retry_stale=True)
        lost = await send(client, tally, "post", "POST", "/b", retry_stale=True, json={})
    assert lost.response is None and not lost.refused
    assert tally.unknown == 1 and not tally.stale_retries
    assert "RemoteProtocolError on a reused connection" in tally.unknowns[0]


async def test_without_retry_stale_the_lost_get_stays_unknown(
    closing: tuple[ClosingServer, str],
) -> None:
    _, url = closing
    tally = Tally()
    async with httpx.AsyncClient(base_url=url) as client:
        await send(client, tally, "get", "GET", "/a")
        await send(client, tally, "get", "GET", "/a")
    assert tally.unknown == 1 and not tally.stale_retries


async def test_a_fresh_connection_closed_unanswered_is_never_resent() -> None:
    app = ClosingServer(answer_first=0)
    server = await asyncio.start_server(app.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    tally = Tally()
    async with server, httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        lost = await send(client, tally, "get", "GET", "/a", retry_stale=True)
    assert lost.response is None
    assert tally.unknown == 1 and not tally.stale_retries
    assert "on a fresh connection" in tally.unknowns[0]
    assert app.requests_read == 1
