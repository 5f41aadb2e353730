"""Signing-key rotation: next → active → retired → removed, without breaking verifiers."""

from __future__ import annotations

from datetime import timedelta

import httpx
import jwt as pyjwt
import pytest

from fluide.app import App
from fluide.identity import keyring
from fluide.identity.models import SigningKeyRow
from fluide.kit.clock import FrozenClock
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


async def test_rotation_refused_when_next_key_is_too_fresh(runtime: App) -> None:
    async with runtime.infra.sessionmaker() as session, session.begin():
        with pytest.raises(keyring.RotationTooSoon):
            await keyring.rotate(
                session,
                "ES256",
                runtime.identity.encryptor,
                runtime.infra.clock(),
                keyring.max_token_age(runtime.infra.settings),
                publish_for=timedelta(hours=1),
            )
