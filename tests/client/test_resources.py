"""Every resource method of both clients against the real app: the async client over ASGI,
the sync client over a real socket, both walking ``scenario.walk``."""

from __future__ import annotations

import random

from fluide.app import App
from fluide.client import AsyncFluideClient, FluideClient
from tests.client.scenario import walk
from tests.client.support import LiveServer, Recorder, asgi_recording
from tests.conftest import Dev


async def test_the_async_client_walks_every_operation(app: App, dev: Dev) -> None:
    recorder = Recorder()
    async with AsyncFluideClient(
        "http://testserver",
        dev.api_key,
        dev.api_secret,
        transport=asgi_recording(app, recorder),
        rng=random.Random(5),
    ) as fluide:
        await walk(fluide)
    posts = [c for c in recorder.other_calls if c.method == "POST"]
    keys = [c.headers.get("idempotency-key") for c in posts]
    assert all(keys) and len(set(keys)) == len(keys)  # one fresh key per call


async def test_the_sync_client_walks_every_operation(live: LiveServer, live_dev: Dev) -> None:
    with FluideClient(live.base_url, live_dev.api_key, live_dev.api_secret) as fluide:
        await walk(fluide)
