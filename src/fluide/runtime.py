"""Process-wide state: settings, database, clock, in-memory key set and revocation view.

One ``Runtime`` per process, on ``app.state.runtime``. Its sync loop keeps the key set and the
revocation view fresh from the database feed (and from Redis nudges when configured); its
database probe (``kit.probe``) is what every health route reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Annotated

from fastapi import Depends
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.requests import Request

from fluide.identity import keyring
from fluide.identity.credential_cache import CHANGED_API_KEYS, CredentialCache
from fluide.identity.hashing import SecretHasher
from fluide.identity.jwt_core import KeyEncryptor
from fluide.identity.models import Client
from fluide.identity.revocation import RevocationView
from fluide.kit import datadir
from fluide.kit.clock import Clock, system_clock
from fluide.kit.db import READ_ONLY, make_engine, make_sessionmaker, read_only
from fluide.kit.group_commit import GroupCommitter
from fluide.kit.mailer import Mailer
from fluide.kit.probe import DbProbe
from fluide.kit.ratelimit import RateLimiter
from fluide.kit.turns import Turns
from fluide.settings import Settings

log = logging.getLogger("fluide.runtime")
# The change channel is ``FLUIDE_REDIS_PREFIX`` + this (``fluide:changes`` by default).
REDIS_CHANNEL_NAME = "changes"
REDIS_CHANNEL = "fluide:" + REDIS_CHANNEL_NAME  # with the default prefix
# PostgreSQL advisory lock that serialises first-key creation across processes and hosts.
KEY_SETUP_LOCK = 0x666C7569


class Runtime:
    def __init__(self, settings: Settings, clock: Clock = system_clock) -> None:
        self.settings = settings
        self.clock = clock
        datadir.secure(settings.data_dir)  # 0700, files 0600; logs what it had to tighten
        self.engine: AsyncEngine = make_engine(
            settings.resolved_database_url, settings.db_pool_size
        )
        self.sessionmaker: async_sessionmaker[AsyncSession] = make_sessionmaker(self.engine)
        # Reads only (health checks, the change-feed poll): no SQLite write lock.
        self.read_engine: AsyncEngine = read_only(self.engine)
        self.hasher = SecretHasher(settings.pepper_bytes())
        self.encryptor = KeyEncryptor(settings.kek_bytes())
        redis_url = settings.redis_url.get_secret_value() if settings.redis_url else None
        self.redis_url = redis_url
        self.redis_channel = settings.redis_prefix + REDIS_CHANNEL_NAME
        self.limiter = RateLimiter(
            redis_url, prefix=settings.redis_prefix, sync_seconds=settings.rate_limit_sync_seconds
        )
        self.mailer = Mailer(
            settings.mail_from,
            settings.data_dir / "outbox",
            settings.smtp_url.get_secret_value() if settings.smtp_url else None,
        )
        self.keyset = keyring.KeySet()
        self.view = RevocationView()
        self.credential_cache = CredentialCache(self.view, settings.credential_cache_seconds)
        # Exchanges commit their rows together (kit.group_commit); started with the runtime.
        self.group_commit = GroupCommitter(self.engine)
        # Exchange attempts for one (key, address) verify one at a time (identity.tokens).
        self.exchange_turns = Turns()
        # Sign-in attempts for one (account, address) check one at a time (identity.signin_limits).
        self.signin_turns = Turns()
        # Who counts as a proxy in front of us (kit.proxies): parsed (and any deprecation
        # logged) once, here, at start.
        self.proxies = settings.proxy_trust
        self.clients: dict[str, str] = {}  # client id → status
        # Health routes read this; it reads ``self.engine`` on every tick (tests swap it).
        self.probe = DbProbe(lambda: read_only(self.engine))
        self._sync_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._redis: object | None = None
        # Hooks other parts register (e.g. the gateway's usage flusher): run at the
        # end of start() and at the beginning of stop().
        self.on_startup: list[Callable[[], Awaitable[None]]] = []
        self.on_shutdown: list[Callable[[], Awaitable[None]]] = []

    @property
    def max_token_age(self) -> timedelta:
        return timedelta(
            seconds=self.settings.token_ttl_seconds + self.settings.token_leeway_seconds
        )

    async def ensure_signing_keys(self) -> None:
        """Create the first active and next keys if missing, once even when hosts start together.

        Without the lock, two processes starting on an empty PostgreSQL database could both see
        no key and both create an active one (SQLite's ``BEGIN IMMEDIATE`` already serialises).
        """
        async with self.sessionmaker() as session, session.begin():
            if self.engine.dialect.name == "postgresql":
                await session.execute(
                    text("SELECT pg_advisory_xact_lock(:k)"), {"k": KEY_SETUP_LOCK}
                )
            await keyring.ensure_keys(
                session, self.settings.signing_alg, self.encryptor, self.clock()
            )

    async def start(self) -> None:
        await self.ensure_signing_keys()
        async with self.sessionmaker() as session:
            await session.connection(execution_options={READ_ONLY: True})
            await self.view.load(session)
            self.keyset = await keyring.load_keyset(session, self.encryptor)
            await self._load_clients(session)
        self.group_commit.start()
        self._tasks.append(asyncio.create_task(self._poll_loop(), name="fluide-sync"))
        if self.redis_url:
            self._tasks.append(asyncio.create_task(self._redis_loop(), name="fluide-redis"))
        self.limiter.start()  # the shared limits' background sync (with Redis)
        try:
            await self.probe.start()
            for hook in self.on_startup:
                await hook()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        for hook in self.on_shutdown:
            try:
                await hook()
            except Exception as exc:  # one failing hook must not stop the others
                log.error("shutdown hook failed", extra={"error_type": type(exc).__name__})
        await self.group_commit.stop()  # what is queued is committed before the engine goes
        await self.probe.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        # After the hooks (no more requests): the last sync sends the limits' pending hits.
        await self.limiter.aclose()
        await self.engine.dispose()

    async def _load_clients(self, session: AsyncSession) -> None:
        rows = await session.execute(select(Client.id, Client.status))
        self.clients = {cid: status for cid, status in rows}

    async def sync_now(self) -> None:
        """Apply the change feed now (after a local commit, or when nudged)."""
        async with self._sync_lock, self.sessionmaker() as session:
            # Twice a second in every process: it must not queue behind (or block) writers.
            await session.connection(execution_options={READ_ONLY: True})
            if await self.view.poll(session):
                self.keyset = await keyring.load_keyset(session, self.encryptor)
                await self._load_clients(session)

    async def changed(self) -> None:
        """Called after committing a revocation-class change: apply here, nudge the others."""
        await self.sync_now()
        await self.publish_change()

    async def publish_change(self) -> None:
        """Nudge every process subscribed to this deployment's channel to read the change feed
        now (with Redis; without, they find the change at their next poll)."""
        await publish_change(self.redis_url, self.redis_channel)

    async def _poll_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.revocation_poll_seconds)
            try:
                await self.sync_now()
            except Exception as exc:  # keep polling through a database blip
                log.warning("revocation poll failed", extra={"error_type": type(exc).__name__})

    async def _redis_loop(self) -> None:
        from redis.asyncio import Redis

        while True:
            client = Redis.from_url(self.redis_url or "")
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(self.redis_channel)
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        await self.sync_now()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("redis subscription lost", extra={"error_type": type(exc).__name__})
                await asyncio.sleep(1)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]
                    await client.aclose()


async def publish_change(redis_url: str | None, channel: str) -> None:
    """Publish on the change channel (``Runtime.redis_channel``); a no-op without Redis.

    Also used by the CLI after it revokes a credential, so running servers apply it at once.
    """
    if not redis_url:
        return
    try:
        from redis.asyncio import Redis

        client = Redis.from_url(redis_url)
        try:
            await client.publish(channel, b"1")
        finally:
            await client.aclose()
    except Exception as exc:  # polling still delivers within a second
        log.warning("redis publish failed", extra={"error_type": type(exc).__name__})


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def db_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: commit on success, roll back on any error."""
    runtime = get_runtime(request)
    async with runtime.sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
        finally:
            changed = session.info.pop(CHANGED_API_KEYS, None)
            if changed:
                # Rotated or revoked here: the exchange must not use this process's snapshot.
                runtime.credential_cache.forget(changed)


DbSession = Annotated[AsyncSession, Depends(db_session, scope="function")]


async def _runtime_dependency(request: Request) -> Runtime:
    # async: FastAPI runs a plain ``def`` dependency on the thread pool, a costly hop per request.
    return get_runtime(request)


RuntimeDep = Annotated[Runtime, Depends(_runtime_dependency)]
