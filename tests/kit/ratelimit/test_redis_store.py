"""The Redis windows against the memory windows: one window implementation per storage, and the
two decide the same. Hypothesis drives both over the same random hits, looks, records and
clock (a time passed in, so windows turn and lock-outs age out without waiting)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fluide.kit.ratelimit import MemoryWindows, key_for, parse_limit
from fluide.kit.ratelimit.redis_store import NO_ANSWER, RedisWindows
from tests.kit.ratelimit.support import drop_keys

# Periods of ten seconds and more: Redis expires keys on its own (real) clock, so a period
# must outlast one example's run, however loaded the machine.
LIMITS = ["1/minute", "2/10seconds", "3/minute", "4/15seconds"]
IDS = [("xip", "127.0.0.1"), ("xkey", "fl_dev_a"), ("xfail", "fl_dev_a", "127.0.0.2")]
T0 = 1_700_000_000.25

_window = st.tuples(st.sampled_from(LIMITS), st.sampled_from(IDS))
_step = st.one_of(
    st.sampled_from([0.0, 0.001, 1.0, 9.999, 10.0, 15.0, 60.0]),
    st.floats(min_value=0, max_value=90, allow_nan=False),
)
_op = st.one_of(
    st.tuples(st.just("hit"), _window, _step),
    st.tuples(st.just("look"), _window, _step),
    st.tuples(st.just("record"), _window, _step),
    st.tuples(
        st.just("batch"),
        st.tuples(st.lists(_window, max_size=2), st.lists(_window, max_size=3)),
        _step,
    ),
)


def _pairs(windows: list[tuple[str, tuple[str, ...]]]) -> list[Any]:
    return [(key_for(parse_limit(limit), ids), parse_limit(limit)) for limit, ids in windows]


async def _both(memory: MemoryWindows, redis: RedisWindows, op: Any, now: float) -> Any:
    """Run one operation on both storages; return (memory's answer, Redis's answer)."""
    kind, arg, _ = op
    if kind == "batch":
        checks, hits = _pairs(arg[0]), _pairs(arg[1])
        return (
            memory.check_and_hit(checks, hits, now),
            await redis.check_and_hit(checks, hits, now),
        )
    ((key, limit),) = _pairs([arg])
    if kind == "hit":
        return memory.hit(key, limit, now), await redis.hit(key, limit, now)
    if kind == "look":
        return memory.full_until(key, limit, now), await redis.full_until(key, limit, now)
    memory.record(key, limit, now)
    return None, None if await redis.record(key, limit, now) in (0, 1) else NO_ANSWER


@pytest.mark.redis
def test_memory_and_redis_windows_decide_the_same(redis_url: str) -> None:
    base = f"fluide-test-{uuid.uuid4().hex[:12]}:"
    loop = asyncio.new_event_loop()

    @settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(ops=st.lists(_op, min_size=1, max_size=25))
    def run(ops: list[Any]) -> None:
        memory = MemoryWindows()
        redis = RedisWindows(redis_url, f"{base}{uuid.uuid4().hex[:8]}:")
        now = T0

        async def go() -> None:
            nonlocal now
            try:
                for op in ops:
                    now += op[2]
                    mine, theirs = await _both(memory, redis, op, now)
                    assert theirs is not NO_ANSWER, "Redis did not answer"
                    assert mine == theirs, (op, now)
            finally:
                await redis.aclose()

        loop.run_until_complete(go())

    try:
        run()
    finally:
        loop.run_until_complete(drop_keys(redis_url, base))
        loop.close()


@pytest.mark.redis
async def test_the_windows_agree_on_a_refusal_and_a_lock_out(redis_url: str, prefix: str) -> None:
    """A fixed example of the property above, easy to read: both count refused hits, and a
    full moving window frees its slot when its oldest entry ages out."""
    memory, redis = MemoryWindows(), RedisWindows(redis_url, prefix)
    limit = parse_limit("2/minute")
    try:
        for now in (T0, T0 + 1, T0 + 2):
            assert memory.hit("k", limit, now) == await redis.hit("k", limit, now)
        refused = memory.hit("k", limit, T0 + 3)
        assert not refused.allowed and refused.remaining == -2
        for now in (T0, T0 + 1, T0 + 2, T0 + 60.5):  # the third is ignored: the window is full
            memory.record("f", limit, now)
            await redis.record("f", limit, now)
            if now == T0 + 2:
                assert memory.full_until("f", limit, T0 + 30) == T0 + 60
                assert await redis.full_until("f", limit, T0 + 30) == T0 + 60
        # At T0 + 60.5 the entry of T0 aged out, so that record counted: full until T0 + 61.
        assert memory.full_until("f", limit, T0 + 60.5) == T0 + 61
        assert await redis.full_until("f", limit, T0 + 60.5) == T0 + 61
        # The boundary: an entry exactly one period old no longer fills the window.
        assert memory.full_until("f", limit, T0 + 61) is None
        assert await redis.full_until("f", limit, T0 + 61) is None
        assert memory.full_until("f", limit, T0 + 61.5) is None
        assert await redis.full_until("f", limit, T0 + 61.5) is None
    finally:
        await redis.aclose()
        await drop_keys(redis_url, prefix)
