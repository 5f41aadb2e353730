"""A DPoP proof's ``jti`` is used once, in every process (RFC 9449 §11.1).

``DpopReplay.first_use(proof)`` is True for the first use of a (key thumbprint, ``jti``) pair
and False for every later one, for ``dpop.REPLAY_TTL`` seconds (longer than any proof carrying
it passes the ``iat`` check). Where it is remembered:

- with Redis (``FLUIDE_REDIS_URL``): ``SET NX EX`` on ``<FLUIDE_REDIS_PREFIX>dpop:<hash>``, one
  round trip;
- without Redis: the database, in the table that already holds once-only keys,
  ``idempotency_keys`` (``kit.idempotency``), under the reserved tenant id ``~dpop`` (no tenant
  id has a ``~``), so no table or migration of its own. The row is inserted with
  ``ON CONFLICT DO NOTHING``: exactly one request wins its key, whichever process it reaches.
  Rows carry their expiry as ``completed_at``; expired ones are deleted here about once a
  minute (and by the idempotency purge after its retention in any case).

Fail closed: when the store does not answer (Redis or the database down), no proof passes
(``ServiceUnavailable``, 503): a replay is never let through for want of a check. The stored
key is a SHA-256 of the thumbprint and ``jti``: no value of the proof is stored or logged.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fluide.identity.dpop import REPLAY_TTL, Proof, ProofInvalid, check_proof, proof_header
from fluide.kit.clock import Clock
from fluide.kit.errors import ServiceUnavailable
from fluide.kit.idempotency import IdempotencyRecord, insert_ignore

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("fluide.dpop")

TENANT = "~dpop"
CLEANUP_SECONDS = 60.0
REDIS_TIMEOUT_SECONDS = 0.5


def replay_key(proof: Proof) -> str:
    return hashlib.sha256(f"{proof.jkt}\n{proof.jti}".encode()).hexdigest()


class DpopReplay:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Clock,
        redis_url: str | None,
        redis_prefix: str,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.clock = clock
        self.redis_url = redis_url.removeprefix("async+") if redis_url else None
        self.prefix = redis_prefix + "dpop:"
        self._client: Redis | None = None
        self._cleaned_at = 0.0

    def __repr__(self) -> str:  # never the Redis URL (it may hold a password)
        return f"DpopReplay(redis={self.redis_url is not None})"

    async def verify(
        self,
        headers: Iterable[tuple[bytes, bytes]],
        *,
        method: str,
        url: str,
        access_token: str | None = None,
        jkt: str | None = None,
    ) -> Proof:
        """The request's proof (``dpop.check_proof``, ``now`` from the clock), used once; else
        ``ProofInvalid`` (or ``ServiceUnavailable`` when the store does not answer)."""
        proof = check_proof(
            proof_header(headers),
            method=method,
            url=url,
            now=self.clock().timestamp(),
            access_token=access_token,
            jkt=jkt,
        )
        if not await self.first_use(proof):
            raise ProofInvalid("jti already used")
        return proof

    async def first_use(self, proof: Proof) -> bool:
        """True once per (key, ``jti``); ``ServiceUnavailable`` when the store is down."""
        key = replay_key(proof)
        try:
            if self.redis_url is not None:
                return await self._redis_first_use(key)
            return await self._db_first_use(key)
        except Exception as exc:
            log.warning("DPoP replay store unreachable", extra={"error_type": type(exc).__name__})
            raise ServiceUnavailable("DPoP proofs cannot be checked right now") from None

    async def _redis_first_use(self, key: str) -> bool:
        client = self._client
        if client is None:
            from redis.asyncio import Redis

            assert self.redis_url is not None
            client = self._client = Redis.from_url(
                self.redis_url,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            )
        return bool(await client.set(self.prefix + key, b"1", nx=True, ex=REPLAY_TTL))

    async def _db_first_use(self, key: str) -> bool:
        now = self.clock()
        values: dict[str, Any] = {
            "tenant_id": TENANT,
            "key": key,
            "request_hash": key,
            "status": "COMPLETED",
            "created_at": now,
            "completed_at": now + timedelta(seconds=REPLAY_TTL),  # its expiry
        }
        async with self.sessionmaker() as session, session.begin():
            inserted = await insert_ignore(session, IdempotencyRecord, values)
            if now.timestamp() - self._cleaned_at >= CLEANUP_SECONDS:
                self._cleaned_at = now.timestamp()
                await session.execute(
                    delete(IdempotencyRecord).where(
                        IdempotencyRecord.tenant_id == TENANT, IdempotencyRecord.completed_at < now
                    )
                )
        return inserted

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
