"""Issue 14, finding 3: nobody who lacks the secret can deny its owner (DESIGN §3.2).

On main, anyone who knew a key spent its per-key budget (before the client id and the secret
were checked, and a bogus client id was not even a failure), and a lock-out refused the right
secret too, per (key, address) for minutes and per address (a whole NAT) for an hour. Now
failures are counted per (key, address) and per address, a lock-out answers 429 to failing
attempts only, and only exchanges whose secret verified spend the key's budget. The attacker
and the owner are separate client addresses (127.0.0.2 and 127.0.0.3), or the same one (NAT).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from fluide.app import App
from fluide.identity import formats
from fluide.identity.models import AuditEvent
from tests.conftest import redis_or_skip
from tests.identity.support import Key, Owner, client_from, sign_in_owner, try_exchange

ATTACKER, OWNER = "127.0.0.2", "127.0.0.3"
KEY_FAILURES, ADDRESS_FAILURES, KEY_BUDGET = 3, 6, 5
LOCKED = (429, "RATE_LIMITED")
WRONG = (401, "DEVELOPER_KEYS_INVALID")
OK = (200, None)


@pytest.fixture
def settings_overrides(backend: str) -> dict[str, Any]:
    values: dict[str, Any] = {
        "exchange_failure_limit": f"{KEY_FAILURES}/minute",
        "exchange_failure_limit_long": f"{ADDRESS_FAILURES}/hour",
        "exchange_limit_per_key": f"{KEY_BUDGET}/minute",
        "signin_limit": "1000/minute",
    }
    if backend == "postgres":
        values["redis_url"] = redis_or_skip()  # limits shared through Redis, as at scale
    return values


@pytest.fixture
async def owner(app: App, runtime: App) -> Any:
    await (
        runtime.infra.limiter.reset()
    )  # Redis keeps the counts of earlier tests for these addresses
    async with client_from(app, OWNER) as client:
        yield await sign_in_owner(runtime, client)


@pytest.fixture
async def key(owner: Owner) -> Key:
    return await owner.create_key()


async def test_an_attackers_failures_never_stop_the_owner(app: App, owner: Owner, key: Key) -> None:
    async with client_from(app, ATTACKER) as attacker:
        answers = [await try_exchange(attacker, key.api_key, "fl_sk_wrong") for _ in range(10)]
        assert answers == [WRONG] * KEY_FAILURES + [LOCKED] * (10 - KEY_FAILURES)
        # The owner, from another address...
        assert await try_exchange(owner.client, key.api_key, key.secret) == OK
        # ...and from the locked-out address itself (the same NAT): the secret still exchanges,
        assert await try_exchange(attacker, key.api_key, key.secret) == OK
        # while the failures from there stay locked out.
        assert await try_exchange(attacker, key.api_key, formats.new_api_secret()) == LOCKED


async def test_the_address_lock_out_refuses_failures_only(app: App, owner: Owner, key: Key) -> None:
    async with client_from(app, ATTACKER) as neighbour:
        # Failures spread over many keys, none of them locked out on its own...
        answers = [
            await try_exchange(neighbour, formats.new_api_key(), formats.new_api_secret())
            for _ in range(ADDRESS_FAILURES + 2)
        ]
        assert answers == [WRONG] * ADDRESS_FAILURES + [LOCKED] * 2
        # ...lock the address out for failures, this key's included,
        assert await try_exchange(neighbour, key.api_key, "fl_sk_wrong") == LOCKED
        # but not for an owner behind the same address who has the secret.
        assert await try_exchange(neighbour, key.api_key, key.secret) == OK
    assert await try_exchange(owner.client, key.api_key, "fl_sk_wrong") == WRONG


async def test_only_verified_exchanges_spend_the_key_budget(
    app: App, owner: Owner, key: Key
) -> None:
    # Twelve attacker addresses, each below every lock-out, each sending the key with a wrong
    # secret and a bogus client id (with the real secret).
    for n in range(10, 22):
        async with client_from(app, f"127.0.0.{n}") as attacker:
            assert await try_exchange(attacker, key.api_key, "fl_sk_wrong") == WRONG
            bogus = await try_exchange(attacker, key.api_key, key.secret, client_id="fluide-x")
            assert bogus == (401, "CLIENT_ID_INVALID")
    # None of it was spent: the owner has the whole budget, and then it is spent (by the owner).
    answers = [await try_exchange(owner.client, key.api_key, key.secret) for _ in range(KEY_BUDGET)]
    assert answers == [OK] * KEY_BUDGET
    assert await try_exchange(owner.client, key.api_key, key.secret) == LOCKED


async def test_a_bogus_client_id_is_a_failure(
    app: App, runtime: App, owner: Owner, key: Key
) -> None:
    async with client_from(app, ATTACKER) as attacker:
        answers = [
            await try_exchange(attacker, key.api_key, key.secret, client_id="fluide-admin")
            for _ in range(KEY_FAILURES + 1)
        ]
        assert answers == [(401, "CLIENT_ID_INVALID")] * KEY_FAILURES + [LOCKED]
        # Counted in the same windows as wrong secrets...
        assert await try_exchange(attacker, key.api_key, "fl_sk_wrong") == LOCKED
        # ...and, like them, never in the way of the right secret with the right client id.
        assert await try_exchange(attacker, key.api_key, key.secret) == OK
    async with runtime.infra.sessionmaker() as session:
        codes = dict(
            (
                await session.execute(
                    select(AuditEvent.code, func.count())
                    .where(AuditEvent.action == "token.exchange", AuditEvent.source_ip == ATTACKER)
                    .group_by(AuditEvent.code)
                )
            ).all()
        )
    # Every attempt is in the audit log: the denials with their code, the success without one.
    assert codes == {"CLIENT_ID_INVALID": KEY_FAILURES, "RATE_LIMITED": 2, None: 1}
