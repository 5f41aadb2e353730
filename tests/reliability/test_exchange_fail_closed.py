"""Issue 14, finding 1: the token exchange fails closed (DESIGN §3.2).

On main the exchange compared a presented secret against the digest of a fixed decoy whenever
nothing was stored (no previous secret in grace, unknown key), so the literal ``fl_sk_decoy``
exchanged: a full token right after the owner exchanged (snapshot warm), after a rotation
without grace, after a grace had ended; a 500 otherwise (unknown key, revoked credential),
which counted no failure. Here every such value, in every state of a credential, with the
snapshot warm and cold, is a 401, never a 5xx; only the live secrets exchange.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fluide.app import App
from fluide.identity import formats
from fluide.kit.clock import FrozenClock
from tests.conftest import redis_or_skip
from tests.identity.support import (
    DECOY,
    Key,
    Owner,
    client_from,
    probing,
    sign_in_owner,
    try_exchange,
)

GRACE = 300
DENIED = (401, "DEVELOPER_KEYS_INVALID")


@pytest.fixture
def settings_overrides(backend: str) -> dict[str, Any]:
    # Lock-outs are another test's subject (test_exchange_denial): here every failure must
    # reach the secret check, so they are lifted.
    values: dict[str, Any] = {
        "exchange_failure_limit": "100000/minute",
        "exchange_failure_limit_long": "100000/hour",
        "signin_limit": "1000/minute",
    }
    if backend == "postgres":
        values["redis_url"] = redis_or_skip()  # PostgreSQL + Redis, as at scale
    return values


@pytest.fixture
async def owner(app: App, runtime: App) -> Any:
    await runtime.infra.limiter.reset()
    async with client_from(app, "127.0.0.3") as client:
        yield await sign_in_owner(runtime, client)


@pytest.fixture
async def attacker(app: App) -> Any:
    async with client_from(app, "127.0.0.2") as client:
        yield client


async def _state(
    name: str, owner: Owner, clock: FrozenClock
) -> tuple[Key, set[str], set[str], bool]:
    """Put a new credential in state ``name``: (key, live secrets, dead secrets, revoked)."""
    key = await owner.create_key(name)
    if name == "fresh":
        return key, {key.secret}, set(), False
    if name == "graced_rotation":
        new = await owner.rotate(key, GRACE)
        return key, {key.secret, new}, set(), False
    if name == "immediate_rotation":
        new = await owner.rotate(key, 0)
        return key, {new}, {key.secret}, False
    if name == "grace_ended":
        new = await owner.rotate(key, GRACE)
        clock.advance(GRACE + 1)
        return key, {new}, {key.secret}, False
    assert name == "revoked"
    await owner.revoke(key)  # its secret is neither live nor dead: it answers CREDENTIAL_REVOKED
    return key, set(), set(), True


def _attacks(key: Key, dead: set[str], other: Key) -> list[str]:
    real = key.secret
    return [
        DECOY,
        DECOY + " ",
        other.secret,  # another credential's live secret
        key.api_key,
        real[:-1],  # a prefix of a real secret
        real[: len(formats.SECRET_PREFIX)],
        formats.new_api_secret(),  # well-formed, checksummed, never issued
        *sorted(dead),
    ]


STATES = ["fresh", "graced_rotation", "immediate_rotation", "grace_ended", "revoked"]
# A revoked credential is never in the snapshot: it has a cold case only.
CASES = [
    (state, warm) for state in STATES for warm in (False, True) if not (warm and state == "revoked")
]


@pytest.mark.parametrize(
    ("state", "warm"), CASES, ids=[f"{st}-{'warm' if w else 'cold'}" for st, w in CASES]
)
async def test_only_live_secrets_exchange_in_every_state(
    runtime: App,
    owner: Owner,
    attacker: httpx.AsyncClient,
    clock: FrozenClock,
    state: str,
    warm: bool,
) -> None:
    other = await owner.create_key("other")
    key, live, dead, revoked = await _state(state, owner, clock)
    with probing(runtime, ttl=3600 if warm else None) as probe:
        if warm:
            # The owner's exchange puts the credential in the snapshot; it stays there.
            assert await try_exchange(owner.client, key.api_key, sorted(live)[0]) == (200, None)
        else:
            runtime.identity.state.credential_cache.clear()
        probe.take()
        for secret in _attacks(key, dead, other):
            assert await try_exchange(attacker, key.api_key, secret) == DENIED, secret[:8]
            # The state really was the one under test (not the database path by accident).
            assert probe.take() == [warm]
        for secret in sorted(live):  # and the owner's live secrets still exchange
            assert await try_exchange(owner.client, key.api_key, secret) == (200, None)
        if revoked:
            assert await try_exchange(owner.client, key.api_key, key.secret) == (
                401,
                "CREDENTIAL_REVOKED",
            )


async def test_an_unknown_or_malformed_key_with_the_decoy_is_a_401(
    attacker: httpx.AsyncClient, owner: Owner
) -> None:
    for api_key in (formats.new_api_key(), "fl_dev_", "not-a-key", "fl_dev_" + "A" * 38):
        for secret in (DECOY, formats.new_api_secret(), "x"):
            assert await try_exchange(attacker, api_key, secret) == DENIED


async def test_an_empty_secret_is_a_missing_header(
    attacker: httpx.AsyncClient, owner: Owner
) -> None:
    key = await owner.create_key()
    assert await try_exchange(attacker, key.api_key, "") == (400, "VALIDATION_FAILED")


async def test_a_key_with_a_nul_or_a_bad_checksum_never_reaches_the_database(
    attacker: httpx.AsyncClient, owner: Owner
) -> None:
    """On main a NUL in a JSON body's key went to PostgreSQL's query and came back a 500. A key
    whose format or checksum is wrong is now unknown without a read (a NUL may also be refused
    as a validation error before that: issue 14, finding 9)."""
    key = await owner.create_key()
    for api_key in (key.api_key + "\x00", "fl_dev_\x00", "\x00" * 10, key.api_key[:-1] + "é"):
        resp = await attacker.post(
            "/api/v1/authorize/token",
            json={"apiKey": api_key, "apiSecret": key.secret, "clientId": "fluide-developer"},
        )
        assert (resp.status_code, resp.json()["code"]) in (DENIED, (400, "VALIDATION_FAILED"))
