"""``identity.dpop_replay``: a (key, jti) is used once, in the database (SQLite, PostgreSQL)
or in Redis, under the deployment's prefix; expired rows go; a store that does not answer
lets no proof through (503)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from fluide.app import App
from fluide.identity.dpop import REPLAY_TTL, Proof
from fluide.identity.dpop_replay import CLEANUP_SECONDS, TENANT, DpopReplay, replay_key
from fluide.kit.clock import FrozenClock
from fluide.kit.errors import ServiceUnavailable
from fluide.kit.idempotency import IdempotencyRecord


def _proof(jti: str | None = None, jkt: str = "thumb") -> Proof:
    return Proof(jkt, jti or uuid.uuid4().hex)


async def _rows(rt: App) -> int:
    async with rt.infra.sessionmaker() as session:
        query = select(func.count()).where(IdempotencyRecord.tenant_id == TENANT)
        return int((await session.execute(query)).scalar_one())


async def test_the_database_store_says_first_once(runtime: App, clock: FrozenClock) -> None:
    store = DpopReplay(runtime.infra.sessionmaker, clock, None, "fluide:")
    other = DpopReplay(runtime.infra.sessionmaker, clock, None, "fluide:")  # another process
    proof = _proof()
    assert await store.first_use(proof)
    assert not await store.first_use(proof)
    assert not await other.first_use(proof)
    # The same jti by another key, and another jti by the same key, are new.
    assert await other.first_use(Proof("other", proof.jti))
    assert await other.first_use(Proof(proof.jkt, proof.jti + "x"))


async def test_expired_rows_are_deleted(runtime: App, clock: FrozenClock) -> None:
    store = DpopReplay(runtime.infra.sessionmaker, clock, None, "fluide:")
    for _ in range(3):
        assert await store.first_use(_proof())
    assert await _rows(runtime) == 3
    clock.advance(max(REPLAY_TTL, CLEANUP_SECONDS) + 1)
    assert await store.first_use(_proof())
    assert await _rows(runtime) == 1  # only the new one is left


@pytest.mark.redis
async def test_the_redis_store_says_first_once_under_the_prefix(
    runtime: App, clock: FrozenClock, redis_url: str
) -> None:
    from redis.asyncio import Redis

    prefix = f"t{uuid.uuid4().hex[:8]}:"
    store = DpopReplay(runtime.infra.sessionmaker, clock, redis_url, prefix)
    other = DpopReplay(runtime.infra.sessionmaker, clock, redis_url, prefix)
    proof = _proof()
    try:
        assert await store.first_use(proof)
        assert not await other.first_use(proof)
        client = Redis.from_url(redis_url)
        ttl = await client.ttl(prefix + "dpop:" + replay_key(proof))
        await client.aclose()
        assert 0 < ttl <= REPLAY_TTL
        assert await _rows(runtime) == 0  # nothing in the database with Redis
    finally:
        await store.aclose()
        await other.aclose()


async def test_a_store_that_does_not_answer_lets_nothing_through(
    runtime: App, clock: FrozenClock
) -> None:
    dead = DpopReplay(runtime.infra.sessionmaker, clock, "redis://127.0.0.1:1/0", "fluide:")
    with pytest.raises(ServiceUnavailable):
        await dead.first_use(_proof())
    await dead.aclose()
    assert "127.0.0.1" not in repr(dead)


def test_the_stored_key_holds_no_value_of_the_proof() -> None:
    key = replay_key(Proof("thumbprint-value", "jti-value"))
    assert len(key) == 64 and "jti" not in key and "thumb" not in key
