"""What every part runs on, one per process: settings, clock, database, group commit, limiter,
mailer, database and Redis probes, and the hooks the parts register to start, stop and learn
of commits.

Built first by ``fluide.app`` and handed to each part, which takes from it what it uses. The
parts' own state lives with them (identity's key set and revocation view: ``identity.state``;
the gateway's token cache and counters: ``gateway.core``). Nothing here knows a part.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from fluide.kit import datadir
from fluide.kit.clock import Clock, system_clock
from fluide.kit.db import make_engine, make_sessionmaker, read_only
from fluide.kit.group_commit import GroupCommitter
from fluide.kit.mailer import Mailer
from fluide.kit.probe import DbProbe, RedisProbe
from fluide.kit.ratelimit import RateLimiter

if TYPE_CHECKING:
    # The type only: the app hands the settings in. (``fluide.settings`` uses kit.proxies, and
    # kit imports nothing above it at run time.)
    from fluide.settings import Settings

log = logging.getLogger("fluide.infra")

Hook = Callable[[], Awaitable[None]]
# Called after a request's unit of work committed (or tried to: ``committed`` is False when the
# commit raised, so it may or may not have landed) with what its services noted (``kit.uow``).
AfterCommit = Callable[[dict[str, Any], bool], Awaitable[None]]


class Infrastructure:
    def __init__(self, settings: Settings, clock: Clock = system_clock) -> None:
        self.settings = settings
        self.clock = clock
        datadir.secure(settings.data_dir)  # 0700, files 0600; logs what it had to tighten
        self.engine: AsyncEngine = make_engine(
            settings.resolved_database_url,
            settings.db_pool_size,
            settings.db_connect_timeout_seconds,
            settings.db_statement_timeout_seconds,
        )
        self.sessionmaker: async_sessionmaker[AsyncSession] = make_sessionmaker(self.engine)
        # Reads only (the exchange's credential read, the change-feed poll): no SQLite write lock.
        self.read_engine: AsyncEngine = read_only(self.engine)
        self.redis_url = settings.redis_url.get_secret_value() if settings.redis_url else None
        # ``FLUIDE_REDIS_PREFIX`` starts every Redis key: deployments sharing a Redis stay apart.
        self.limiter = RateLimiter(
            self.redis_url,
            prefix=settings.redis_prefix,
            sync_seconds=settings.rate_limit_sync_seconds,
        )
        self.mailer = Mailer(
            settings.mail_from,
            settings.data_dir / "outbox",
            settings.smtp_url.get_secret_value() if settings.smtp_url else None,
        )
        # Exchanges commit their rows together (kit.group_commit); started with the rest.
        self.group_commit = GroupCommitter(self.engine)
        # Who counts as a proxy in front of us (kit.proxies): parsed (and any deprecation
        # logged) once, here, at start.
        self.proxies = settings.proxy_trust
        # Health routes read this; it reads ``self.engine`` on every tick (tests swap it).
        self.probe = DbProbe(lambda: read_only(self.engine))
        # Readiness and health report Redis when it is configured (``None``: not configured).
        self.redis_probe = RedisProbe(self.redis_url) if self.redis_url else None
        # What the parts register: run in this order at the end of ``start``, in reverse at the
        # beginning of ``stop`` (identity's key set is loaded before the gateway starts).
        self.on_start: list[Hook] = []
        self.on_stop: list[Hook] = []
        self.after_commit: list[AfterCommit] = []

    async def start(self) -> None:
        self.group_commit.start()
        self.limiter.start()  # the shared limits' background sync (with Redis)
        try:
            await self.probe.start()
            if self.redis_probe is not None:
                await self.redis_probe.start()
            for hook in self.on_start:
                await hook()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        for hook in reversed(self.on_stop):
            try:
                await hook()
            except Exception as exc:  # one failing hook must not stop the others
                log.error("shutdown hook failed", extra={"error_type": type(exc).__name__})
        await self.group_commit.stop()  # what is queued is committed before the engine goes
        await self.probe.stop()
        if self.redis_probe is not None:
            await self.redis_probe.stop()
        # After the hooks (no more requests): the last sync sends the limits' pending hits.
        await self.limiter.aclose()
        await self.engine.dispose()
