"""Signing-key rotation: next → active → retired → removed, without breaking verifiers."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jwt as pyjwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from fluide.app import App
from fluide.identity import keyring
from fluide.identity.jwt_core import KeyEncryptor
from fluide.identity.models import SigningKeyRow
from fluide.kit.clock import FrozenClock
from fluide.settings import JWKS_MAX_AGE_SECONDS, MIN_KEY_PUBLISH_SECONDS, Settings
from tests.conftest import Dev, bearer, exchange


async def _rotate(runtime: App) -> str:
    async with runtime.infra.sessionmaker() as session, session.begin():
        row = await keyring.rotate(
            session,
            runtime.infra.settings.signing_alg,
            runtime.identity.encryptor,
            runtime.infra.clock(),
            keyring.max_token_age(runtime.infra.settings),
        )
        kid = row.kid
    await runtime.identity.feed.changed()
    return kid


async def _jwks_kids(client: httpx.AsyncClient) -> set[str]:
    return {k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]}


async def test_the_next_key_is_published_before_it_signs(
    client: httpx.AsyncClient, dev: Dev, runtime: App
) -> None:
    before = await _jwks_kids(client)
    signing_before = pyjwt.get_unverified_header((await exchange(client, dev))["accessToken"])
    new_kid = await _rotate(runtime)
    assert new_kid in before  # it was in the JWKS before the rotation made it sign
    assert new_kid != signing_before["kid"]
    token = (await exchange(client, dev))["accessToken"]
    assert pyjwt.get_unverified_header(token)["kid"] == new_kid


async def test_retired_key_stays_published_until_its_tokens_expire(
    client: httpx.AsyncClient, dev: Dev, runtime: App, clock: FrozenClock
) -> None:
    old = (await exchange(client, dev))["accessToken"]
    old_kid = pyjwt.get_unverified_header(old)["kid"]
    await _rotate(runtime)
    kids = await _jwks_kids(client)
    assert old_kid in kids
    assert len(kids) == 3  # retired, active, next
    assert (await client.get("/api/v1/authorize/current", headers=bearer(old))).status_code == 200

    clock.advance(keyring.max_token_age(runtime.infra.settings).total_seconds() + 1)
    await _rotate(runtime)
    assert old_kid not in await _jwks_kids(client)
    async with runtime.infra.sessionmaker() as session:
        row = await session.get(SigningKeyRow, old_kid)
        assert row is not None
        assert row.state == "removed"
        assert row.private_key_encrypted == b""


async def test_private_keys_are_encrypted_at_rest(runtime: App, app: object) -> None:
    async with runtime.infra.sessionmaker() as session:
        rows = await keyring.list_keys(session)
    assert rows
    for row in rows:
        assert b"PRIVATE KEY" not in row.private_key_encrypted
        assert "d" not in row.public_jwk


async def test_a_quick_second_rotation_is_scheduled_after_a_jwks_max_age(
    client: httpx.AsyncClient, dev: Dev, runtime: App, clock: FrozenClock
) -> None:
    """The issue's case: two `rotate`s 23 s apart. The second key signs only once every JWKS a
    cache may still hold was served with it; until then the first one signs."""
    first = await _rotate(runtime)  # the first start's next key: in every JWKS ever served
    assert _kid((await exchange(client, dev))["accessToken"]) == first
    clock.advance(23)
    second = await _rotate(runtime)
    async with runtime.infra.sessionmaker() as session:
        row = await session.get(SigningKeyRow, second)
        assert row is not None and row.activated_at is not None
        starts, published = row.activated_at, row.created_at
    assert MIN_KEY_PUBLISH_SECONDS >= JWKS_MAX_AGE_SECONDS
    assert 0 <= (starts - published).total_seconds() - MIN_KEY_PUBLISH_SECONDS < 1
    assert starts.microsecond == 0  # a whole second, as the tokens' times
    assert starts > clock()
    seen: list[set[str]] = []
    while clock() + timedelta(seconds=5) < starts:
        seen.append(await _jwks_kids(client))
        assert _kid((await exchange(client, dev))["accessToken"]) == first
        clock.advance(5)
    clock.now = starts - timedelta(milliseconds=1)
    assert _kid((await exchange(client, dev))["accessToken"]) == first
    clock.now = starts
    token = (await exchange(client, dev))["accessToken"]
    assert _kid(token) == second
    # Every JWKS served since the second key's publication, so each a cache still holds, has it.
    assert seen and all(second in kids for kids in seen)
    assert (await client.get("/api/v1/authorize/current", headers=bearer(token))).status_code == 200


async def test_the_key_a_scheduled_rotation_replaces_cannot_be_revoked_while_it_signs(
    runtime: App, clock: FrozenClock
) -> None:
    first = await _rotate(runtime)
    await _rotate(runtime)  # scheduled: ``first`` is retired but signs until the new key starts
    async with runtime.infra.sessionmaker() as session, session.begin():
        with pytest.raises(keyring.KeyIsSigning):
            await keyring.revoke(session, first, clock())
    clock.advance(MIN_KEY_PUBLISH_SECONDS + 1)
    async with runtime.infra.sessionmaker() as session, session.begin():
        assert await keyring.revoke(session, first, clock()) == "retired"


def test_a_publish_delay_shorter_than_the_jwks_max_age_is_refused(tmp_path: Path) -> None:
    assert Settings().signing_key_publish_seconds == MIN_KEY_PUBLISH_SECONDS
    for short in (0, 23, JWKS_MAX_AGE_SECONDS, MIN_KEY_PUBLISH_SECONDS - 1):
        with pytest.raises(ValidationError, match="signing_key_publish_seconds"):
            Settings(signing_key_publish_seconds=short)
    assert Settings(signing_key_publish_seconds=3600).signing_key_publish_seconds == 3600


async def test_keyring_rotate_never_takes_less_than_the_minimum(runtime: App) -> None:
    await _rotate(runtime)
    async with runtime.infra.sessionmaker() as session, session.begin():
        row = await keyring.rotate(
            session,
            "ES256",
            runtime.identity.encryptor,
            runtime.infra.clock(),
            keyring.max_token_age(runtime.infra.settings),
            publish_for=timedelta(0),
        )
        assert row.activated_at is not None
        waited = (row.activated_at - row.created_at).total_seconds()
        assert MIN_KEY_PUBLISH_SECONDS <= waited < MIN_KEY_PUBLISH_SECONDS + 1


def _kid(token: str) -> str:
    return str(pyjwt.get_unverified_header(token)["kid"])


# ---- property: whatever the rotation timings, no token's kid is missing from a cached JWKS ----

_GAP = st.one_of(
    st.sampled_from([0.0, 1.0, 5.0, 23.0, 59.0, 60.0, 64.0, 64.5, 65.0, 66.0, 1000.0]),
    st.floats(0, 140, allow_nan=False),
)
_HELD = timedelta(seconds=JWKS_MAX_AGE_SECONDS)


async def _histories(
    gaps: list[float], lags: tuple[float, float], path: Path
) -> list[list[tuple[datetime, keyring.KeySet]]]:
    """Rotations ``gaps`` seconds apart; each process reloads its key set ``lag`` s after each
    (the change feed's bound is 1 s). Returns every key set each process held, from when."""
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin() as conn:
        await conn.run_sync(SigningKeyRow.metadata.create_all)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    encryptor, clock = KeyEncryptor(b"k" * 32), FrozenClock()
    try:
        await keyring.ensure_signing_keys(sessions, "ES256", encryptor, clock)
        events: list[tuple[datetime, int]] = [(clock(), 0), (clock(), 1)]  # (when, process)
        at = clock()
        for gap in gaps:
            at += timedelta(seconds=gap)
            events += [(at, -1), (at + timedelta(seconds=lags[0]), 0)]
            events.append((at + timedelta(seconds=lags[1]), 1))
        histories: list[list[tuple[datetime, keyring.KeySet]]] = [[], []]
        for when, who in sorted(events, key=lambda e: (e[0], e[1])):
            clock.now = when
            async with sessions() as session, session.begin():
                if who < 0:
                    await keyring.rotate(session, "ES256", encryptor, when, timedelta(hours=1))
                else:
                    keyset = await keyring.load_keyset(session, encryptor, when)
                    histories[who].append((when, keyset))
        return histories
    finally:
        await engine.dispose()


def _published(
    histories: list[list[tuple[datetime, keyring.KeySet]]], start: datetime
) -> list[set[str]]:
    """The kids of every JWKS any process served from ``start`` on (what caches may hold)."""
    out = []
    for history in histories:
        for i, (_, keyset) in enumerate(history):
            until = history[i + 1][0] if i + 1 < len(history) else datetime.max.replace(tzinfo=UTC)
            if until > start:
                out.append({k["kid"] for k in keyset.jwks["keys"]})
    return out


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    gaps=st.lists(_GAP, min_size=1, max_size=6),
    lags=st.tuples(st.sampled_from([0.0, 0.2, 1.0]), st.sampled_from([0.0, 0.5, 1.0])),
)
def test_no_token_is_signed_by_a_kid_a_cached_jwks_lacks(
    tmp_path: Path, gaps: list[float], lags: tuple[float, float]
) -> None:
    """At every instant a process's signer can change (a reload, a scheduled start and just
    before it), the key it signs with is in every JWKS any process served in the last max-age,
    so in every set a cache may still hold. The first start's keys are the one exception the
    timeline cannot break: nothing was served before them."""
    histories = asyncio.run(_histories(gaps, lags, tmp_path / f"k-{uuid.uuid4().hex}.db"))
    tick = timedelta(milliseconds=1)
    for history in histories:
        for i, (loaded, keyset) in enumerate(history):
            until = history[i + 1][0] if i + 1 < len(history) else None
            starts = [datetime.fromtimestamp(t, UTC) for t, _ in keyset.signers]
            for at in [loaded, *starts, *(t - tick for t in starts)]:
                if at < loaded or (until is not None and at >= until):
                    continue
                key = keyset.signing_key_at(at.timestamp())
                assert key is not None
                for kids in _published(histories, at - _HELD):
                    assert key.kid in kids, (at, key.kid, kids)
