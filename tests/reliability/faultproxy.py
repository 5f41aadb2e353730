"""An asyncio TCP proxy on loopback that a test uses to break a dependency from the outside.

The app's database (or Redis) URL points at the proxy; the proxy forwards to the real server.
The test then cuts every open connection (``cut``: both sides reset, as a server restart or a
failover does), refuses new ones (``refuse`` / ``restore``), stops forwarding without closing
anything (``pause`` / ``resume``: a server or a network that stopped answering), or adds
latency to every chunk (``delay``). It runs on the test's event loop, so it serves an app
driven in-process through the ASGI transport; the real servers are never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit, urlunsplit


class FaultProxy:
    def __init__(self, target_url: str, default_port: int) -> None:
        parts = urlsplit(target_url)
        self._url = target_url
        self.target = (parts.hostname or "127.0.0.1", parts.port or default_port)
        self.port = 0
        self.latency = 0.0
        self.accepted = 0
        self._server: asyncio.Server | None = None
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._links: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        """The target URL (scheme, credentials, path, query) pointed at the proxy."""
        parts = urlsplit(self._url)
        userinfo, _, _ = parts.netloc.rpartition("@")
        host = f"127.0.0.1:{self.port}"
        netloc = f"{userinfo}@{host}" if userinfo else host
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))

    async def start(self) -> None:
        """Listen (again, on the same port once it has one)."""
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def refuse(self) -> None:
        """New connections are refused (nothing listens); open ones are left alone."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()

    async def restore(self) -> None:
        """Listen and forward again."""
        self.resume()
        if self._server is None:
            await self.start()

    def cut(self) -> None:
        """Reset every open connection, both sides."""
        links, self._links = self._links, set()
        for writer in links:
            with contextlib.suppress(Exception):
                writer.transport.abort()

    def pause(self) -> None:
        """Stop forwarding (bytes wait in the proxy); nothing is closed."""
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    def delay(self, seconds: float) -> None:
        """Hold every forwarded chunk this long."""
        self.latency = seconds

    async def stop(self) -> None:
        await self.refuse()
        self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._links.add(writer)
        try:
            await self._flowing.wait()
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except (OSError, asyncio.CancelledError):
            writer.transport.abort()
            return
        if writer not in self._links:  # cut while connecting
            up_writer.transport.abort()
            return
        self._links.add(up_writer)
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pump(src, dst, (writer, up_writer)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(
        self,
        src: asyncio.StreamReader,
        dst: asyncio.StreamWriter,
        pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
    ) -> None:
        try:
            while chunk := await src.read(65536):
                if self.latency:
                    await asyncio.sleep(self.latency)
                await self._flowing.wait()
                if dst not in self._links:
                    break
                dst.write(chunk)
                await dst.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            for w in pair:  # one side gone: the other goes too
                self._links.discard(w)
                with contextlib.suppress(Exception):
                    w.transport.abort()
