"""A request lost on a stale keep-alive connection, against a real socket server.

``DroppingServer`` drops a kept-alive connection the way uvicorn does when its keep-alive timer
fires as a request arrives: it reads the request and closes the connection without a byte of
response. The SDK sends such a request once more, on another connection, only when that is
harmless (an idempotent method, an ``Idempotency-Key``, the token exchange), at most once per
call and within ``RetryPolicy.max_retries``; a plain POST stays an error.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from fluide.client import AsyncFluideClient, FluideClient, FluideConnectionError, RetryPolicy
from fluide.client._stale import KEEPALIVE_EXPIRY
from tests.client.keys import KEY, SECRET

API_KEY, API_SECRET = KEY, SECRET  # well-formed; the fake server checks nothing


def _answer(body: dict[str, Any]) -> bytes:
    raw = json.dumps(body).encode()
    head = (
        f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(raw)}\r\n\r\n"
    )
    return head.encode() + raw


def _token_body() -> dict[str, Any]:
    now = int(time.time())
    return {
        "accessToken": "eyJ.fake.token",
        "tokenType": "Bearer",
        "exp": now + 900,
        "iat": now,
        "expiresIn": 900,
        "jti": "j1",
        "tenantId": "t1",
        "scope": "hr:read",
    }


@dataclass
class Seen:
    connection: int  # 1-based, in order of accept
    nth: int  # 1-based position of the request on its connection
    method: str
    path: str
    dropped: bool


@dataclass
class DroppingServer:
    """HTTP/1.1 on a real socket; ``drop(seen)`` decides which requests are read and dropped.

    Answers wait ``answer_delay`` so concurrent client requests need separate connections.
    """

    drop: Callable[[Seen], bool]
    answer_delay: float = 0.0
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def serve(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                number = self.connections
            threading.Thread(target=self._handle, args=(conn, number), daemon=True).start()

    def _handle(self, conn: socket.socket, number: int) -> None:
        buffer, nth = b"", 0
        with conn:
            while True:
                while b"\r\n\r\n" not in buffer:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, buffer = buffer.split(b"\r\n\r\n", 1)
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                while len(buffer) < length:
                    buffer += conn.recv(65536)
                buffer = buffer[length:]
                nth += 1
                seen = Seen(number, nth, method, path, dropped=False)
                seen.dropped = self.drop(seen)
                with self._lock:
                    self.seen.append(seen)
                if seen.dropped:
                    return  # closed unanswered, as a keep-alive timeout does
                time.sleep(self.answer_delay)
                token = path.endswith("/authorize/token")
                conn.sendall(_answer(_token_body() if token else {"ok": True, "path": path}))

    def dropped(self) -> list[Seen]:
        return [s for s in self.seen if s.dropped]


def reused(seen: Seen) -> bool:
    return seen.nth > 1


@pytest.fixture
def server_factory() -> Iterator[Callable[..., tuple[DroppingServer, str]]]:
    listeners: list[socket.socket] = []

    def start(
        drop: Callable[[Seen], bool], answer_delay: float = 0.0
    ) -> tuple[DroppingServer, str]:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        listeners.append(listener)
        server = DroppingServer(drop, answer_delay)
        threading.Thread(target=server.serve, args=(listener,), daemon=True).start()
        return server, f"http://127.0.0.1:{listener.getsockname()[1]}"

    yield start
    for listener in listeners:
        listener.close()


class Sleeps:
    """Records the retry loop's waits (how every retry of the client is observed)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)

    async def asleep(self, seconds: float) -> None:
        self.waits.append(seconds)


def sync_client(
    url: str, sleeps: Sleeps, limits: httpx.Limits | None = None, **retry: Any
) -> FluideClient:
    return FluideClient(
        url,
        API_KEY,
        API_SECRET,
        retry=RetryPolicy(rng=random.Random(5), **retry),
        sleep=sleeps,
        limits=limits,
    )


def async_client(url: str, sleeps: Sleeps, **retry: Any) -> AsyncFluideClient:
    return AsyncFluideClient(
        url,
        API_KEY,
        API_SECRET,
        retry=RetryPolicy(rng=random.Random(5), **retry),
        sleep=sleeps.asleep,
    )


def test_idle_connections_expire_before_the_servers_keep_alive() -> None:
    sleeps = Sleeps()
    with sync_client("http://127.0.0.1:9", sleeps) as fluide:
        pool = fluide._http._transport._pool  # type: ignore[attr-defined]
        assert pool._keepalive_expiry == KEEPALIVE_EXPIRY < 5
    custom = httpx.Limits(keepalive_expiry=1.0)
    with FluideClient("http://127.0.0.1:9", API_KEY, API_SECRET, limits=custom) as fluide:
        assert fluide._http._transport._pool._keepalive_expiry == 1.0  # type: ignore[attr-defined]


def test_a_get_lost_on_a_stale_connection_is_sent_once_more_and_succeeds(
    server_factory: Callable[..., tuple[DroppingServer, str]],
) -> None:
    server, url = server_factory(reused)
    sleeps = Sleeps()
    with sync_client(url, sleeps) as fluide:
        # The exchange opens connection 1; the GET reuses it and is dropped unread.
        body = fluide.request("GET", "hr/health")
    assert body == {"ok": True, "path": "/api/v1/hr/health"}
    assert [(s.connection, s.method, s.path, s.dropped) for s in server.seen] == [
        (1, "POST", "/api/v1/authorize/token", False),
        (1, "GET", "/api/v1/hr/health", True),
        (2, "GET", "/api/v1/hr/health", False),
    ]
    assert sleeps.waits == [0.0]  # one retry, no wait: the new connection is fine at once


async def test_async_a_get_lost_on_a_stale_connection_is_sent_once_more(
    server_factory: Callable[..., tuple[DroppingServer, str]],
) -> None:
    server, url = server_factory(reused)
    sleeps = Sleeps()
    async with async_client(url, sleeps) as fluide:
        body = await fluide.request("GET", "hr/health")
    assert body == {"ok": True, "path": "/api/v1/hr/health"}
    assert [(s.method, s.dropped) for s in server.seen] == [
        ("POST", False),
        ("GET", True),
        ("GET", False),
    ]
    assert sleeps.waits == [0.0]


def test_a_plain_post_lost_on_a_stale_connection_is_not_resent(
    server_factory: Callable[..., tuple[DroppingServer, str]],
) -> None:
    server, url = server_factory(reused)
    sleeps = Sleeps()
    with sync_client(url, sleeps) as fluide:
        fluide.token()
        with pytest.raises(FluideConnectionError) as caught:
            fluide.request("POST", "pay/payouts", json={"amount": "1.00"})
    assert caught.value.code == "CONNECTION_ERROR"
    assert [(s.method, s.path, s.dropped) for s in server.seen] == [
        ("POST", "/api/v1/authorize/token", False),
        ("POST", "/api/v1/pay/payouts", True),
    ]
    assert sleeps.waits == []


async def test_async_a_plain_post_is_not_resent_but_a_keyed_one_is(
    server_factory: Callable[..., tuple[DroppingServer, str]],
) -> None:
    server, url = server_factory(reused)
    sleeps = Sleeps()
    async with async_client(url, sleeps) as fluide:
        await fluide.token()
        with pytest.raises(FluideConnectionError):
            await fluide.request("POST", "pay/payouts", json={})
        assert sleeps.waits == []
        # The dropped POST took connection 1 away: warm connection 2, then lose a keyed POST.
        await fluide.request("GET", "hr/health")
        body = await fluide.request(
            "POST", "pay/payouts", json={}, headers={"Idempotency-Key": "k-1"}
        )
    assert body == {"ok": True, "path": "/api/v1/pay/payouts"}
    posts = [(s.connection, s.dropped) for s in server.seen if s.path == "/api/v1/pay/payouts"]
    assert posts == [(1, True), (2, True), (3, False)]
    assert sleeps.waits == [0.0]


def test_the_token_exchange_lost_on_a_stale_connection_is_resent(
    server_factory: Callable[..., tuple[DroppingServer, str]],
) -> None:
    server, url = server_factory(reused)
    sleeps = Sleeps()
    with sync_client(url, sleeps) as fluide:
        fluide.request("GET", "hr/health")  # warm a connection: the exchange and GET (resent)
        fluide.token(force=True)  # the exchange now reuses connection 2 and is dropped
        assert fluide.auth.exchange_count == 2
    tokens = [(s.connection, s.dropped) for s in server.seen if s.method == "POST"]
    assert tokens == [(1, False), (2, True), (3, False)]
    assert sleeps.waits == [0.0, 0.0]


def test_no_resend_when_the_retry_bound_is_zero(
    server_factory: Callable[..., tuple[DroppingServer, str]],
) -> None:
    server, url = server_factory(reused)
    sleeps = Sleeps()
    with sync_client(url, sleeps, max_retries=0) as fluide, pytest.raises(FluideConnectionError):
        fluide.request("GET", "hr/health")
    assert [(s.method, s.dropped) for s in server.seen] == [("POST", False), ("GET", True)]
    assert sleeps.waits == []


async def test_a_stale_resend_happens_once_per_call(
    server_factory: Callable[..., tuple[DroppingServer, str]],
) -> None:
    dropping = threading.Event()
    server, url = server_factory(lambda s: dropping.is_set() and reused(s), answer_delay=0.2)
    sleeps = Sleeps()
    async with async_client(url, sleeps, max_retries=3) as fluide:
        await fluide.token()
        # Two calls at once: the pool holds two idle kept-alive connections afterwards.
        await asyncio.gather(fluide.request("GET", "a"), fluide.request("GET", "b"))
        assert server.connections == 2
        dropping.set()
        with pytest.raises(FluideConnectionError):
            await fluide.request("GET", "c")
    # Lost on one stale connection, resent on the other one, lost again: no third try.
    lost = [(s.connection, s.path) for s in server.dropped()]
    assert sorted(lost) == [(1, "/api/v1/c"), (2, "/api/v1/c")]
    assert sleeps.waits == [0.0]


def test_a_fresh_connection_closed_unanswered_is_not_resent(
    server_factory: Callable[..., tuple[DroppingServer, str]],
) -> None:
    server, url = server_factory(lambda s: s.method == "GET")
    sleeps = Sleeps()
    # No idle connection is kept: every request goes out on a fresh one.
    with sync_client(url, sleeps, limits=httpx.Limits(max_keepalive_connections=0)) as fluide:
        fluide.token()
        with pytest.raises(FluideConnectionError):
            fluide.request("GET", "hr/health")
    assert [(s.method, s.nth, s.dropped) for s in server.seen] == [
        ("POST", 1, False),
        ("GET", 1, True),
    ]
    assert sleeps.waits == []
