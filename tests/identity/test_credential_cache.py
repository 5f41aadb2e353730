"""The exchange's credential snapshot (identity.credential_cache): a shortcut to a success only,
never older than its bound, dropped by local changes and by the revocation view; and the
snapshot path and the database path answer alike on every input.

Tests about a warm snapshot prove it is warm (``tests.identity.support.probing`` records what
each look-up found, and holds entries for an hour meanwhile): on a slow machine they would
otherwise test the database path without noticing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from fluide.app import App
from fluide.identity import formats
from fluide.identity.audit import Actor
from fluide.identity.credential_cache import CachedCredential, CredentialCache
from fluide.identity.models import Credential, RevocationEvent
from fluide.identity.policy import CredentialPolicy
from fluide.identity.revocation import RevocationView
from fluide.kit.clock import FrozenClock, system_clock
from tests.conftest import Dev, exchange
from tests.identity.support import (
    DECOY,
    CacheProbe,
    Key,
    client_from,
    probing,
    sign_in_owner,
    try_exchange,
)

TOKEN = "/api/v1/authorize/token"
OTHER_PROCESS = Actor("system", "another-process", None, None)
HOUR = 3600.0


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # Failures must not lock out here: the same input goes through both paths in turn, and a
    # lock-out engaged between the two would tell them apart for a reason of its own.
    return {"exchange_failure_limit": "100000/minute", "exchange_failure_limit_long": "100000/hour"}


@pytest.fixture
def probe(runtime: App) -> Iterator[CacheProbe]:
    with probing(runtime, ttl=HOUR) as p:
        yield p


async def _rotate_elsewhere(rt: App, dev: Dev, grace_seconds: int) -> str:
    """Rotate as another process would: straight through the database, so this process's
    request path (and its snapshot) hears nothing of it."""
    async with rt.infra.sessionmaker() as session, session.begin():
        rotation = await rt.identity.credentials.rotate_secret(
            session,
            OTHER_PROCESS,
            tenant_id=dev.tenant_id,
            credential_id=dev.credential_id,
            grace_seconds=grace_seconds,
        )
    return rotation.api_secret


async def test_a_secret_rotated_in_another_process_exchanges_at_once(
    client: httpx.AsyncClient, dev: Dev, runtime: App, probe: CacheProbe
) -> None:
    await exchange(client, dev)  # the old secret is now in this process's snapshot
    assert probe.take() == [False]
    new_secret = await _rotate_elsewhere(runtime, dev, grace_seconds=300)
    # Not in the (warm) snapshot: the database decides, and the new secret works here at once.
    await exchange(client, dev, secret=new_secret)
    assert probe.take() == [True]
    await exchange(client, dev)  # the old one still has its grace (in the refreshed snapshot)
    assert probe.take() == [True]


async def test_a_rotation_without_grace_elsewhere_ends_the_old_secret_with_the_view(
    client: httpx.AsyncClient, dev: Dev, runtime: App, probe: CacheProbe
) -> None:
    await exchange(client, dev)
    await _rotate_elsewhere(runtime, dev, grace_seconds=0)
    assert (
        runtime.identity.state.credential_cache.get(dev.api_key) is not None
    )  # warm until the view knows
    await (
        runtime.identity.feed.sync_now()
    )  # what the change feed does within a second (or at once via Redis)
    probe.take()
    resp = await client.post(TOKEN, headers=dev.exchange_headers())
    assert resp.status_code == 401
    assert resp.json()["code"] == "DEVELOPER_KEYS_INVALID"
    assert probe.take() == [False]  # the view dropped the entry


async def test_a_credential_revoked_elsewhere_is_refused_once_the_view_knows(
    client: httpx.AsyncClient, dev: Dev, runtime: App, probe: CacheProbe
) -> None:
    await exchange(client, dev)
    assert (
        runtime.identity.state.credential_cache.get(dev.api_key) is not None
    )  # warm until the view knows
    async with runtime.infra.sessionmaker() as session, session.begin():
        await session.execute(
            update(Credential).where(Credential.id == dev.credential_id).values(status="revoked")
        )
        session.add(
            RevocationEvent(
                kind="credential_status",
                subject=dev.credential_id,
                value="revoked",
                created_at=system_clock(),
            )
        )
    await runtime.identity.feed.sync_now()
    probe.take()
    resp = await client.post(TOKEN, headers=dev.exchange_headers())
    assert resp.status_code == 401
    assert resp.json()["code"] == "CREDENTIAL_REVOKED"
    assert probe.take() == [False]  # the view dropped the entry


async def test_a_rotation_in_this_process_drops_the_snapshot(
    client: httpx.AsyncClient, dev: Dev, runtime: App, probe: CacheProbe
) -> None:
    first = await exchange(client, dev)
    assert runtime.identity.state.credential_cache.get(dev.api_key) is not None
    headers = {
        "Authorization": f"Bearer {first['accessToken']}",
        "X-Fluide-Client-Id": "fluide-developer",
    }
    one = await client.post(
        "/api/v1/authorize/rotate-secret", headers=headers, json={"graceSeconds": 300}
    )
    assert one.status_code == 200, one.text
    assert (
        runtime.identity.state.credential_cache.get(dev.api_key) is None
    )  # dropped, not expired (1 h)
    await exchange(client, dev)  # the first secret, inside its grace: cached again
    assert runtime.identity.state.credential_cache.get(dev.api_key) is not None
    second = await client.post(
        "/api/v1/authorize/rotate-secret", headers=headers, json={"graceSeconds": 300}
    )
    assert second.status_code == 200, second.text
    # The first secret is now two rotations old: refused here at once, snapshot or not.
    resp = await client.post(TOKEN, headers=dev.exchange_headers())
    assert resp.status_code == 401
    assert resp.json()["code"] == "DEVELOPER_KEYS_INVALID"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_denials_are_never_kept(
    client: httpx.AsyncClient, dev: Dev, runtime: App, probe: CacheProbe
) -> None:
    resp = await client.post(TOKEN, headers=dev.exchange_headers(secret="fl_sk_" + "x" * 40))
    assert resp.status_code == 401
    assert runtime.identity.state.credential_cache.get(dev.api_key) is None


def _entry(fetched: float, generation: int = 3) -> CachedCredential:
    return CachedCredential(
        id="cred_1",
        tenant_id="ten_1",
        api_key="fl_dev_example",
        scopes="hr:read",
        generation=generation,
        secret_hash="h",
        previous_secret_hash=None,
        previous_secret_expires_at=None,
        policy=CredentialPolicy(),
        fetched=fetched,
    )


def test_an_entry_older_than_the_bound_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("fluide.identity.credential_cache.time.monotonic", lambda: now[0])
    cache = CredentialCache(RevocationView(), ttl=1.0)
    cache.put(_entry(fetched=1000.0))
    now[0] = 1000.9
    assert cache.get("fl_dev_example") is not None
    now[0] = 1001.1
    assert cache.get("fl_dev_example") is None


def test_the_view_overrides_an_entry() -> None:
    view = RevocationView()
    cache = CredentialCache(view, ttl=60)
    cache.put(_entry(fetched=float("inf")))
    assert cache.get("fl_dev_example") is not None
    view.min_generation["cred_1"] = 4  # a rotation without grace the snapshot predates
    assert cache.get("fl_dev_example") is None
    cache.put(_entry(fetched=float("inf"), generation=4))
    assert cache.get("fl_dev_example") is not None
    view.inactive_credentials["cred_1"] = "revoked"
    assert cache.get("fl_dev_example") is None


def test_zero_disables_the_snapshot() -> None:
    cache = CredentialCache(RevocationView(), ttl=0)
    cache.put(_entry(fetched=float("inf")))
    assert cache.get("fl_dev_example") is None
    assert "secret" not in repr(_entry(fetched=0.0)).lower()


# ---- the snapshot path and the database path agree ----------------------------------------------


@dataclass
class Stated:
    """A credential in one state, with a secret that exchanges (to warm the snapshot)."""

    name: str
    key: Key
    live: str
    secrets: list[str]  # every secret it ever had


@dataclass
class Scene:
    states: list[Stated]
    owner: httpx.AsyncClient
    attacker: httpx.AsyncClient


@pytest.fixture
async def scene(app: App, runtime: App, clock: FrozenClock) -> AsyncIterator[Scene]:
    """One credential per state a snapshot can hold (a revoked one is never held)."""
    async with (
        client_from(app, "127.0.0.3") as owner_client,
        client_from(app, "127.0.0.2") as attacker,
    ):
        owner = await sign_in_owner(runtime, owner_client)
        fresh, graced, ended, cut = [await owner.create_key(n) for n in "abcd"]
        graced_new = await owner.rotate(graced, 3600)
        ended_new = await owner.rotate(ended, 30)
        cut_new = await owner.rotate(cut, 0)
        clock.advance(31)  # ``ended``'s grace is over, ``graced``'s is not
        states = [
            Stated("fresh", fresh, fresh.secret, [fresh.secret]),
            Stated("graced", graced, graced.secret, [graced.secret, graced_new]),
            Stated("grace ended", ended, ended_new, [ended.secret, ended_new]),
            Stated("rotated without grace", cut, cut_new, [cut.secret, cut_new]),
        ]
        yield Scene(states, owner_client, attacker)


_base62_body = st.text(alphabet=formats.ALPHABET, min_size=44, max_size=44)
_choice = st.one_of(
    st.tuples(st.just("own"), st.integers(0, 1)),  # one of its own secrets, live or not
    st.tuples(st.just("other"), st.integers(0, 7)),  # another credential's
    st.tuples(st.just("key"), st.just(0)),
    st.tuples(st.just("prefix"), st.integers(1, 55)),
    st.tuples(st.just("decoy"), st.just(0)),
    st.tuples(
        st.just("text"), st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=60)
    ),
    st.tuples(st.just("well-formed"), _base62_body),
)


def _secret(scene: Scene, state: Stated, choice: tuple[str, Any]) -> str:
    kind, arg = choice
    if kind == "own":
        return state.secrets[min(arg, len(state.secrets) - 1)]
    if kind == "other":
        everyone = [s for other in scene.states if other is not state for s in other.secrets]
        return everyone[arg % len(everyone)]
    if kind == "key":
        return state.key.api_key
    if kind == "prefix":
        return state.live[:arg]
    if kind == "decoy":
        return DECOY
    if kind == "text":
        return str(arg) or "x"
    return formats.SECRET_PREFIX + arg + formats.checksum(formats.SECRET_PREFIX, arg)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(index=st.integers(0, 3), choice=_choice)
async def test_the_snapshot_and_the_database_answer_every_input_alike(
    scene: Scene, runtime: App, probe: CacheProbe, index: int, choice: tuple[str, Any]
) -> None:
    """The same input, once with the snapshot cold (the database decides) and once warm (the
    snapshot decides, or hands over to the database): the same answer."""
    state = scene.states[index]
    secret = _secret(scene, state, choice)
    runtime.identity.state.credential_cache.clear()
    probe.take()
    cold = await try_exchange(scene.attacker, state.key.api_key, secret)
    assert probe.take() == [False]
    assert await try_exchange(scene.owner, state.key.api_key, state.live) == (200, None)
    probe.take()
    warm = await try_exchange(scene.attacker, state.key.api_key, secret)
    assert probe.take() == [True]
    assert cold == warm, (state.name, choice)
    assert cold[0] in (200, 401)
    assert (cold[0] == 200) == _live(state, secret)


def _live(state: Stated, secret: str) -> bool:
    """What DESIGN §3.2 says exchanges: the current secret, and the previous one in grace."""
    current = state.secrets[-1]
    return secret == current or (state.name == "graced" and secret == state.secrets[0])
