"""``FLUIDE_REDIS_PREFIX``: deployments sharing one Redis keep their limits and changes apart.

Redis pub/sub channels are global (the database number in the URL does not separate them), so
the prefix is what keeps two deployments' change pushes apart; rate-limit keys get it too.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from fluide.app import App, create_app
from fluide.identity.feed import REDIS_CHANNEL
from fluide.settings import Settings
from tests.conftest import create_dev, make_settings

pytestmark = pytest.mark.redis
TOKEN = "/api/v1/authorize/token"


@asynccontextmanager
async def deployment(
    tmp_path: Path, template: Path, redis_url: str, prefix: str
) -> AsyncIterator[tuple[App, httpx.AsyncClient]]:
    """One app on a database of its own, on the shared Redis under ``prefix``."""
    await asyncio.to_thread(tmp_path.mkdir)
    await asyncio.to_thread(shutil.copy, template, tmp_path / "fluide.db")
    settings = make_settings(
        tmp_path,
        f"sqlite+aiosqlite:///{tmp_path / 'fluide.db'}",
        redis_url=redis_url,
        redis_prefix=prefix,
        exchange_limit_per_ip="3/minute",
    )
    app = create_app(settings)
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app, client=("127.0.0.9", 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield app, client


async def _drop(redis_url: str, prefixes: list[str]) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    try:
        for prefix in prefixes:
            keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
            if keys:
                await client.delete(*keys)
    finally:
        await client.aclose()


async def _exchanges(app: App, client: httpx.AsyncClient, count: int) -> list[int]:
    dev = await create_dev(app)
    return [
        (await client.post(TOKEN, headers=dev.exchange_headers())).status_code for _ in range(count)
    ]


@pytest.mark.parametrize("same_prefix", [False, True])
@pytest.mark.usefixtures("whole_minute")
async def test_rate_limits_are_shared_only_under_one_prefix(
    tmp_path: Path, sqlite_template: Path, redis_url: str, same_prefix: bool
) -> None:
    run = uuid.uuid4().hex[:10]
    prefixes = [f"t{run}a:", f"t{run}a:" if same_prefix else f"t{run}b:"]
    async with AsyncExitStack() as stack:
        stack.push_async_callback(_drop, redis_url, prefixes)
        a, ca = await stack.enter_async_context(
            deployment(tmp_path / "a", sqlite_template, redis_url, prefixes[0])
        )
        b, cb = await stack.enter_async_context(
            deployment(tmp_path / "b", sqlite_template, redis_url, prefixes[1])
        )
        # The per-address exchange budget (3/minute) from one address, through both apps.
        assert await _exchanges(a, ca, 3) == [200, 200, 200]
        from_b = await _exchanges(b, cb, 1)
    # One prefix: one budget, already spent through A. Two prefixes: B has its own.
    assert from_b == ([429] if same_prefix else [200])


async def test_each_deployment_pushes_and_listens_on_its_own_channel(
    tmp_path: Path, sqlite_template: Path, redis_url: str
) -> None:
    from redis.asyncio import Redis

    run = uuid.uuid4().hex[:10]
    pa, pb = f"t{run}a:", f"t{run}b:"
    listener = Redis.from_url(redis_url)
    pubsub = listener.pubsub()
    await pubsub.psubscribe(f"t{run}*")
    try:
        async with (
            deployment(tmp_path / "a", sqlite_template, redis_url, pa) as (a, ca),
            deployment(tmp_path / "b", sqlite_template, redis_url, pb),
        ):
            # Each app subscribes to its own prefix's channel, and only to that.
            for _ in range(100):
                counts = dict(await listener.pubsub_numsub(f"{pa}changes", f"{pb}changes"))
                if counts == {f"{pa}changes".encode(): 1, f"{pb}changes".encode(): 1}:
                    break
                await asyncio.sleep(0.02)
            assert counts == {f"{pa}changes".encode(): 1, f"{pb}changes".encode(): 1}
            assert a.identity.feed.redis_channel == f"{pa}changes"
            # A sign-out on A is pushed on A's channel, never on B's or the default one.
            dev = await create_dev(a)
            token = (await ca.post(TOKEN, headers=dev.exchange_headers())).json()["accessToken"]
            resp = await ca.post(
                "/api/v1/authorize/revoke",
                headers={
                    "Authorization": f"Bearer {token}",
                    "X-Fluide-Client-Id": "fluide-developer",
                },
            )
            assert resp.status_code == 204
            channels = []
            while (message := await pubsub.get_message(timeout=0.5)) is not None:
                if message["type"] == "pmessage":
                    channels.append(message["channel"])
            assert channels == [f"{pa}changes".encode()]
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]
        await listener.aclose()


def test_the_default_prefix_keeps_the_previous_names() -> None:
    """A rolling deploy from the release before the setting shares keys and channel with it."""
    assert Settings().redis_prefix == "fluide:"
    assert REDIS_CHANNEL == "fluide:changes"


@pytest.mark.parametrize("bad", ["", "a b", "x*", "p?", "[ab]", "x" * 65, "é:"])
def test_a_prefix_that_could_match_other_keys_is_refused(bad: str) -> None:
    # ``*``, ``?`` and ``[`` would make the reset's SCAN pattern reach other deployments' keys.
    with pytest.raises(ValidationError):
        Settings(redis_prefix=bad)
