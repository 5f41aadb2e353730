"""The change feed: how every process keeps its ``IdentityState`` fresh.

Every process polls the ``revocation_events`` table (``FLUIDE_REVOCATION_POLL_SECONDS``, 0.5 s)
and, with Redis configured, is nudged to poll at once by a publish on the deployment's change
channel (``FLUIDE_REDIS_PREFIX`` + ``changes``: ``fluide:changes`` by default; pub/sub channels
ignore the database number, so only the prefix keeps deployments sharing a Redis apart). A
change committed in this process is applied here before the request answers (``changed``,
called by identity's after-commit hook, ``identity.part``) and pushed to the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fluide.identity import keyring
from fluide.identity.expiry import ExpiryAuditor
from fluide.identity.jwt_core import KeyEncryptor
from fluide.identity.models import Client
from fluide.identity.state import IdentityState
from fluide.kit import uow
from fluide.kit.db import READ_ONLY
from fluide.kit.faults import OUTAGES, REDIS, fault_of

log = logging.getLogger("fluide.identity.feed")
# The change channel is ``FLUIDE_REDIS_PREFIX`` + this (``fluide:changes`` by default).
REDIS_CHANNEL_NAME = "changes"
REDIS_CHANNEL = "fluide:" + REDIS_CHANNEL_NAME  # with the default prefix
# ``kit.uow.note`` keys: the API keys whose credential the unit of work changed (the exchange's
# snapshot of them is dropped), and whether it wrote to the change feed (applied here and
# pushed to the other processes once committed).
CHANGED_API_KEYS = "identity.changed_api_keys"
FEED_CHANGED = "identity.feed_changed"


def note_change(session: AsyncSession, api_key: str | None = None) -> None:
    """Record that this unit of work revokes or rotates something (``after_commit`` acts)."""
    notes = uow.note(session)
    notes[FEED_CHANGED] = True
    if api_key is not None:
        notes.setdefault(CHANGED_API_KEYS, set()).add(api_key)


class ChangeFeed:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        state: IdentityState,
        encryptor: KeyEncryptor,
        *,
        poll_seconds: float,
        redis_url: str | None,
        redis_prefix: str = "fluide:",
    ) -> None:
        self.sessionmaker = sessionmaker
        self.state = state
        self.encryptor = encryptor
        self.poll_seconds = poll_seconds
        self.redis_url = redis_url
        self.redis_channel = redis_prefix + REDIS_CHANNEL_NAME
        # Writes the "credential.expire" audit events (identity.part sets it).
        self.expiry: ExpiryAuditor | None = None
        self._sync_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []

    async def load(self) -> None:
        """Read the whole state (at start)."""
        async with self.sessionmaker() as session:
            await session.connection(execution_options={READ_ONLY: True})
            await self.state.view.load(session)
            self.state.keyset = await keyring.load_keyset(session, self.encryptor)
            await self._load_clients(session)
            await self.state.tenancy.load(session)

    async def start(self) -> None:
        await self.load()
        self._tasks.append(asyncio.create_task(self._poll_loop(), name="fluide-sync"))
        if self.redis_url:
            self._tasks.append(asyncio.create_task(self._redis_loop(), name="fluide-redis"))

    async def stop(self) -> None:
        # A cancellation can be swallowed by the Redis client while it waits in
        # ``pubsub.listen()`` (seen: the task stayed "cancelling" there and shutdown hung), so
        # cancel again until every task has ended, for a bounded time.
        pending = {t for t in self._tasks if not t.done()}
        for _ in range(10):
            if not pending:
                break
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=0.5)
        for task in self._tasks:
            if task.done():
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    task.result()
        if pending:
            log.warning("change feed tasks did not stop", extra={"tasks": len(pending)})
        self._tasks.clear()

    async def _load_clients(self, session: AsyncSession) -> None:
        rows = await session.execute(select(Client.id, Client.status))
        self.state.clients = {cid: status for cid, status in rows}

    async def sync_now(self) -> None:
        """Apply the change feed now (after a local commit, or when nudged)."""
        async with self._sync_lock, self.sessionmaker() as session:
            # Twice a second in every process: it must not queue behind (or block) writers.
            await session.connection(execution_options={READ_ONLY: True})
            view = self.state.view
            if await view.poll(session):
                self.state.keyset = await keyring.load_keyset(session, self.encryptor)
                await self._load_clients(session)
            if view.tenancy_changed:
                await self.state.tenancy.load(session)
                view.tenancy_changed = False  # only once loaded: a failed load is retried

    async def after_commit(self, notes: dict[str, Any], committed: bool) -> None:
        """``Infrastructure.after_commit`` hook: once a unit of work that noted a change
        (``note_change``) committed, drop the exchange's snapshot of the changed credentials
        and apply the change here before the request answers."""
        changed = notes.get(CHANGED_API_KEYS)
        if changed:
            # Also when the commit failed: it may have landed, and a snapshot is only a shortcut.
            self.state.credential_cache.forget(changed)
        if committed and notes.get(FEED_CHANGED):
            await self.changed()

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
            await asyncio.sleep(self.poll_seconds)
            try:
                await self.sync_now()
                if self.expiry is not None:
                    await self.expiry.run()
            except Exception as exc:  # keep polling through a database blip
                fault = fault_of(exc)
                if fault is not None:  # an outage: one warning for all of it (kit.faults)
                    OUTAGES.down(fault.dependency, exc)
                else:
                    log.warning("revocation poll failed", extra={"error_type": type(exc).__name__})

    async def _redis_loop(self) -> None:
        from redis.asyncio import Redis

        while True:
            client = Redis.from_url(self.redis_url or "")
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(self.redis_channel)
                if OUTAGES.is_down(REDIS):
                    OUTAGES.up(REDIS)
                    with contextlib.suppress(Exception):  # the poll catches up regardless
                        await self.sync_now()  # what was published while we were away
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        await self.sync_now()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Once per outage, not once per attempt (the poll delivers changes meanwhile).
                fault = fault_of(exc)
                OUTAGES.down(fault.dependency if fault else REDIS, exc)
                await asyncio.sleep(1)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]
                    await client.aclose()


async def publish_change(redis_url: str | None, channel: str) -> None:
    """Publish on the change channel (``ChangeFeed.redis_channel``); a no-op without Redis.

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
        OUTAGES.down(REDIS, exc)
