"""Test plumbing for the SDK: recording transports around the real ones, and a live server.

The recording transports wrap the real transport (ASGI or a real socket) and keep what went
over the wire, so tests can count exchanges and check headers without mocking the server.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import uvicorn
from sqlalchemy import func, select

from fluide.app import App, create_app
from fluide.identity.models import AuditEvent
from fluide.settings import Settings

T = TypeVar("T")
TOKEN_PATH = "/api/v1/authorize/token"
SECRET_HEADER = "x-fluide-api-secret"


@dataclass
class Exchange:
    """One request and its answer as seen on the wire."""

    method: str
    path: str
    headers: dict[str, str]
    status: int
    code: str | None
    at: float

    @property
    def is_token(self) -> bool:
        return self.path == TOKEN_PATH


def _code_of(status: int, content: bytes) -> str | None:
    if status < 400:
        return None
    try:
        body = httpx.Response(status, content=content).json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None


@dataclass
class Recorder:
    clock: Any = time.time
    log: list[Exchange] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_retry_after: float | None = None

    def add(self, request: httpx.Request, response: httpx.Response) -> Exchange:
        if "retry-after" in response.headers:
            self.last_retry_after = float(response.headers["retry-after"])
        entry = Exchange(
            request.method,
            request.url.path,
            {k.lower(): v for k, v in request.headers.items()},
            response.status_code,
            None,
            self.clock(),
        )
        with self.lock:
            self.log.append(entry)
        return entry

    @property
    def token_calls(self) -> list[Exchange]:
        return [e for e in self.log if e.is_token]

    @property
    def other_calls(self) -> list[Exchange]:
        return [e for e in self.log if not e.is_token]

    def statuses(self, status: int) -> list[Exchange]:
        return [e for e in self.log if e.status == status]


# The recording transports do not read bodies themselves: they tee the stream as the client
# reads it, so a client that forgot to read a body is not rescued by the test harness (an
# error's ``code`` is only recorded once the client has read it).


class _TeeStream(httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream, entry: Exchange) -> None:
        self.inner, self.entry, self.chunks = inner, entry, bytearray()

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.inner:
            self.chunks.extend(chunk)
            yield chunk
        self.entry.code = _code_of(self.entry.status, bytes(self.chunks))

    def close(self) -> None:
        self.inner.close()


class _AsyncTeeStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, entry: Exchange) -> None:
        self.inner, self.entry, self.chunks = inner, entry, bytearray()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.inner:
            self.chunks.extend(chunk)
            yield chunk
        self.entry.code = _code_of(self.entry.status, bytes(self.chunks))

    async def aclose(self) -> None:
        await self.inner.aclose()


class RecordingAsyncTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, recorder: Recorder) -> None:
        self.inner = inner
        self.recorder = recorder

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        entry = self.recorder.add(request, response)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_AsyncTeeStream(response.stream, entry),
            extensions=response.extensions,
            request=request,
        )

    async def aclose(self) -> None:
        await self.inner.aclose()


class RecordingTransport(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport, recorder: Recorder) -> None:
        self.inner = inner
        self.recorder = recorder

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        entry = self.recorder.add(request, response)
        assert isinstance(response.stream, httpx.SyncByteStream)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_TeeStream(response.stream, entry),
            extensions=response.extensions,
            request=request,
        )

    def close(self) -> None:
        self.inner.close()


def asgi_recording(app: App, recorder: Recorder) -> RecordingAsyncTransport:
    return RecordingAsyncTransport(
        httpx.ASGITransport(app=app, raise_app_exceptions=False), recorder
    )


async def exchange_rows(rt: App, credential_id: str) -> int:
    """Successful ``token.exchange`` audit rows of one credential (the server's own count)."""
    async with rt.infra.sessionmaker() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(
                AuditEvent.action == "token.exchange",
                AuditEvent.outcome == "success",
                AuditEvent.credential_id == credential_id,
            )
        )
    return int(count or 0)


@dataclass
class LiveServer:
    """The real app served by uvicorn on a real 127.0.0.1 socket, in a background thread."""

    base_url: str
    app: App
    loop: asyncio.AbstractEventLoop

    @property
    def runtime(self) -> App:
        rt: App = self.app
        return rt

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the server's loop (where its engine lives) and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)


@contextmanager
def live_server(settings: Settings, **uvicorn_options: Any) -> Iterator[LiveServer]:
    """``uvicorn_options`` are added to (or override) the server's ``uvicorn.Config``."""
    app = create_app(settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        ws="none",
        http="h11",
        loop="asyncio",
        **uvicorn_options,
    )
    server = uvicorn.Server(config)
    loop = asyncio.new_event_loop()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.serve(sockets=[sock]))

    thread = threading.Thread(target=serve, name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("live server did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", app, loop)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        loop.close()
        sock.close()
