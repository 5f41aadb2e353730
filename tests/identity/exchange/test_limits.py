"""``ExchangeLimits``, the exchange's one way to its limits (DESIGN §3.2), on its own: the
address's budget first (``admit``), the key's only once the secret verified (``verified``),
lock-outs that refuse failures only (``failed``). In memory and on Redis; the same rules over
HTTP are in tests/identity/test_exchange_limits.py."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fluide.identity.audit import Actor
from fluide.identity.errors import ClientIdInvalid, DeveloperKeysInvalid
from fluide.identity.exchange.limits import ExchangeLimits, key_hint
from fluide.kit.errors import AppError, RateLimited
from fluide.kit.ratelimit import RateLimiter
from tests.conftest import make_settings
from tests.kit.ratelimit.support import drop_keys

KEY = "fl_dev_" + "a" * 24


class Denials:
    """The ``deny`` hook: records what would be audited and hands the error back."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None, Any]] = []

    async def __call__(
        self, actor: Actor, exc: AppError, *, credential: Any = None, key_hint: str | None = None
    ) -> AppError:
        self.seen.append((exc.code, key_hint, credential))
        return exc


def _actor(ip: str) -> Actor:
    return Actor("anonymous", None, ip, "req")


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    if request.param == "memory":
        yield RateLimiter()
        return
    url: str = request.getfixturevalue("redis_url")
    prefix = f"fluide-test-{uuid.uuid4().hex[:12]}:"
    lim = RateLimiter(url, prefix=prefix)
    try:
        yield lim
    finally:
        await lim.aclose()
        await drop_keys(url, prefix)


def _limits(tmp_path: Path, limiter: RateLimiter, denials: Denials) -> ExchangeLimits:
    conf = make_settings(
        tmp_path,
        "sqlite+aiosqlite:///unused.db",
        exchange_limit_per_ip="4/minute",
        exchange_limit_per_key="2/minute",
        exchange_failure_limit="3/minute",
        exchange_failure_limit_long="5/hour",
    )
    return ExchangeLimits(conf, limiter, denials)


@pytest.mark.usefixtures("whole_minute")
async def test_admit_spends_the_address_budget_and_answers_429_past_it(
    tmp_path: Path, limiter: RateLimiter
) -> None:
    denials = Denials()
    limits = _limits(tmp_path, limiter, denials)
    for _ in range(4):
        await limits.admit(_actor("127.0.0.2"), KEY)
    with pytest.raises(RateLimited):
        await limits.admit(_actor("127.0.0.2"), KEY)
    assert denials.seen == [("RATE_LIMITED", key_hint(KEY), None)]
    await limits.admit(_actor("127.0.0.3"), KEY)  # another address has its own budget
    await limits.verified(_actor("127.0.0.2"), KEY)  # the key's budget was not touched


async def test_verified_spends_only_the_key_budget(tmp_path: Path, limiter: RateLimiter) -> None:
    limits = _limits(tmp_path, limiter, Denials())
    for ip in ("127.0.0.2", "127.0.0.3"):
        await limits.verified(_actor(ip), KEY)
    with pytest.raises(RateLimited):  # per key, whatever the address
        await limits.verified(_actor("127.0.0.4"), KEY)
    for _ in range(4):  # no address budget was spent
        await limits.admit(_actor("127.0.0.2"), KEY)


@pytest.mark.usefixtures("whole_minute")
async def test_a_lock_out_refuses_failures_only(tmp_path: Path, limiter: RateLimiter) -> None:
    denials = Denials()
    limits = _limits(tmp_path, limiter, denials)
    attacker = _actor("127.0.0.9")
    answers = [
        await limits.failed(attacker, KEY, DeveloperKeysInvalid(), credential="cred")
        for _ in range(4)
    ]
    assert [a.code for a in answers] == ["DEVELOPER_KEYS_INVALID"] * 3 + ["RATE_LIMITED"]
    assert denials.seen[-1] == ("RATE_LIMITED", key_hint(KEY), None)  # no credential named
    assert isinstance(answers[-1], RateLimited) and answers[-1].retry_after >= 1
    # A bogus client id is a failure like any other: locked out too.
    assert (await limits.failed(attacker, KEY, ClientIdInvalid())).code == "RATE_LIMITED"
    # The owner, from the same address, with the secret: never looked at against the lock-out.
    await limits.admit(attacker, KEY)
    await limits.verified(attacker, KEY)
    # Another address's failures on the key are its own.
    other = await limits.failed(_actor("127.0.0.8"), KEY, DeveloperKeysInvalid())
    assert other.code == "DEVELOPER_KEYS_INVALID"


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["fail", "ok"]), st.sampled_from(["127.0.0.2", "127.0.0.3"])),
        max_size=14,
    )
)
@pytest.mark.usefixtures("whole_minute")
async def test_failures_lock_out_at_the_limits_and_successes_never_count(
    tmp_path_factory: pytest.TempPathFactory, attempts: list[tuple[str, str]]
) -> None:
    """Model (one key, so its (key, address) window of 3 fills before the address's 5): a
    failure is refused once its address has 3 counted failures, refused ones are not counted,
    and a verified attempt spends nothing of either. (Memory: a fresh limiter per example.)"""
    limits = _limits(tmp_path_factory.mktemp("x"), RateLimiter(), Denials())
    limits.settings.exchange_limit_per_key = "1000/minute"
    failures: dict[str, int] = {}
    for kind, ip in attempts:
        if kind == "ok":
            await limits.verified(_actor(ip), KEY)
            continue
        answer = await limits.failed(_actor(ip), KEY, DeveloperKeysInvalid())
        locked = failures.get(ip, 0) >= 3
        assert answer.code == ("RATE_LIMITED" if locked else "DEVELOPER_KEYS_INVALID")
        if not locked:
            failures[ip] = failures.get(ip, 0) + 1
