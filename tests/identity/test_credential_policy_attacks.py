"""Attacks on the policy route (``PATCH /api/v1/auth/credentials/{id}``) and on creation with a
policy: other tenants' credential ids, tokens instead of a session, huge and malformed values;
and a policy change seen by a second process within a second."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fluide.app import App, create_app
from fluide.kit.clock import FrozenClock, iso_z
from tests.conftest import make_settings, redis_or_skip
from tests.identity.support import Key, Owner, client_from, sign_in_owner
from tests.identity.test_credential_policies import (
    HR,
    code,
    create_key,
    patch,
    product_headers,
    token_of,
)


@pytest.fixture
async def owners(app: App, runtime: App) -> AsyncIterator[tuple[Owner, Owner]]:
    async with client_from(app, "127.0.0.2") as a, client_from(app, "127.0.0.3") as b:
        yield await sign_in_owner(runtime, a), await sign_in_owner(runtime, b)


async def test_another_tenants_credential_is_a_404_like_a_missing_one(
    owners: tuple[Owner, Owner],
) -> None:
    mine, theirs = owners
    their_key, before = await create_key(theirs)
    body = {"allowedCidrs": ["192.0.2.0/24"], "expiresAt": None, "rateLimit": "1/day"}
    foreign = await patch(mine, their_key.credential_id, body)
    missing = await patch(mine, "cred_doesnotexist", body)
    assert (foreign.status_code, code(foreign)) == (missing.status_code, code(missing))
    assert foreign.status_code == 404
    assert foreign.json()["message"] == missing.json()["message"]
    after = await theirs.client.get(
        f"/api/v1/auth/credentials/{their_key.credential_id}",
        headers={"Authorization": f"Bearer {theirs.session_token}"},
    )
    assert after.json()["allowedCidrs"] is None and after.json()["rateLimit"] is None
    assert after.json()["scopes"] == before["scopes"]


async def test_a_token_is_no_session_for_changing_policies(
    app: App, owners: tuple[Owner, Owner]
) -> None:
    """Narrowed or not, a product token cannot lift its own key's restrictions."""
    owner, _ = owners
    key, _ = await create_key(owner, scopes=["hr:read"], rateLimit="5/minute")
    async with client_from(app, "127.0.0.9") as c:
        token = (await token_of(c, key)).json()["accessToken"]
        for headers in (
            product_headers(key, token),
            {"Authorization": f"Bearer {token}"},
        ):
            resp = await c.patch(
                f"/api/v1/auth/credentials/{key.credential_id}",
                headers=headers,
                json={"rateLimit": None, "scopes": None},
            )
            assert (resp.status_code, code(resp)) == (401, "SESSION_REQUIRED")
    anonymous = await owner.client.patch(
        f"/api/v1/auth/credentials/{key.credential_id}", json={"scopes": None}
    )
    assert anonymous.status_code == 401


BAD_BODIES: list[dict[str, Any]] = [
    {"expiresAt": "2027-01-01T00:00:00"},  # no zone
    {"expiresAt": "2000-01-01T00:00:00Z"},  # past
    {"expiresAt": "99999-01-01T00:00:00Z"},
    {"expiresAt": "tomorrow"},
    {"expiresAt": 1e300},
    {"allowedCidrs": []},
    {"allowedCidrs": "10.0.0.0/8"},
    {"allowedCidrs": [f"10.0.{i // 256}.{i % 256}" for i in range(101)]},
    {"allowedCidrs": ["10.0.0.0/8"] * 5000},
    {"allowedCidrs": ["x" * 10_000]},
    {"allowedCidrs": ["10.1.2.3/8"]},
    {"allowedCidrs": ["fe80::1%eth0"]},
    {"allowedCidrs": [None]},
    {"rateLimit": "fast"},
    {"rateLimit": "0/second"},
    {"rateLimit": "1/second" + "0" * 100},
    {"scopes": ["hr:read", "admin"]},
    {"scopes": []},
]


@pytest.mark.parametrize("body", BAD_BODIES)
async def test_malformed_policies_change_nothing(
    app: App, owners: tuple[Owner, Owner], body: dict[str, Any]
) -> None:
    owner, _ = owners
    key, before = await create_key(owner, rateLimit="7/minute")
    resp = await patch(owner, key.credential_id, body)
    assert resp.status_code in (400, 413), resp.text
    assert code(resp) in ("VALIDATION_FAILED", "PAYLOAD_TOO_LARGE", "REQUEST_TOO_LARGE"), resp.text
    created = await owner.client.post(
        "/api/v1/auth/credentials",
        headers={"Authorization": f"Bearer {owner.session_token}"},
        json={"name": "x", **body},
    )
    assert created.status_code in (400, 413)
    after = await owner.client.get(
        f"/api/v1/auth/credentials/{key.credential_id}",
        headers={"Authorization": f"Bearer {owner.session_token}"},
    )
    for field in ("expiresAt", "allowedCidrs", "rateLimit", "scopes"):
        assert after.json()[field] == before[field]
    async with client_from(app, "127.0.0.9") as c:
        assert code(await token_of(c, key)) is None


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(offset_ms=st.integers(min_value=-3000, max_value=3000))
async def test_the_exchange_and_the_guard_agree_on_expiry(
    app: App, owners: tuple[Owner, Owner], clock: FrozenClock, offset_ms: int
) -> None:
    """At every instant around the expiry both refuse, or both accept (expired from the
    instant of ``expiresAt`` on)."""
    owner, _ = owners
    start = clock.now
    try:
        expires = start + timedelta(seconds=10)
        key, _ = await create_key(owner, expiresAt=iso_z(expires))
        async with client_from(app, "127.0.0.9") as c:
            token = (await token_of(c, key)).json()["accessToken"]
            clock.now = expires + timedelta(milliseconds=offset_ms)
            exchanged = await token_of(c, key)
            called = await c.get(HR, headers=product_headers(key, token))
        want = "CREDENTIAL_EXPIRED" if offset_ms >= 0 else None
        assert (code(exchanged), code(called)) == (want, want)
    finally:
        clock.now = start


async def _until(deadline: float, probe: Any) -> float:
    """Seconds until ``probe()`` is true (fails past ``deadline``)."""
    begun = time.monotonic()
    while not await probe():
        assert time.monotonic() < deadline, "not applied in time"
        await asyncio.sleep(0.02)
    return time.monotonic() - begun


@pytest.mark.parametrize("push", [False, True], ids=["polling", "redis"])
async def test_a_policy_change_reaches_another_process_within_a_second(
    tmp_path: Path, database_url: str, backend: str, push: bool
) -> None:
    """Two app instances on one database (each with its own state and feed); with Redis the
    second one's poll loop is stopped, so only the push can deliver."""
    overrides: dict[str, Any] = {}
    if push:
        if backend != "postgres":
            pytest.skip("the Redis push is exercised with PostgreSQL")
        overrides = {"redis_url": redis_or_skip()}
    clock = FrozenClock()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one = create_app(make_settings(tmp_path / "a", database_url, **overrides), clock)
    two = create_app(make_settings(tmp_path / "b", database_url, **overrides), clock)
    async with one.lifespan(), two.lifespan():
        if push:
            for task in two.identity.feed._tasks:
                if task.get_name() == "fluide-sync":
                    task.cancel()
        async with client_from(one, "127.0.0.2") as c1, client_from(two, "127.0.0.9") as c2:
            owner = await sign_in_owner(one, c1)
            key: Key
            key, _ = await create_key(owner)
            token = (await token_of(c2, key)).json()["accessToken"]
            assert code(await c2.get(HR, headers=product_headers(key, token))) is None
            resp = await patch(owner, key.credential_id, {"allowedCidrs": ["192.0.2.0/24"]})
            assert resp.status_code == 200
            changed = time.monotonic()

            async def refused() -> bool:
                got = await c2.get(HR, headers=product_headers(key, token))
                return code(got) == "IP_NOT_ALLOWED"

            await _until(changed + 1.0, refused)
            await asyncio.sleep(1.05)  # the exchange's snapshot lives at most a second
            assert code(await token_of(c2, key)) == "IP_NOT_ALLOWED"
