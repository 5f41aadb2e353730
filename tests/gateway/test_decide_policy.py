"""The decision endpoint runs the credential's policy like the product guard (issue 21): the
client address behind a trusted proxy, expiry, narrowed scopes and the key's own limit."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from fluide.app import App
from fluide.gateway.decide import DECIDE_PATH
from fluide.identity import credentials
from fluide.identity.audit import Actor
from fluide.identity.credentials import PolicyChange
from fluide.kit.clock import FrozenClock
from tests.conftest import Dev, bearer, exchange
from tests.gateway.forward_support import write_routes
from tests.identity.support import client_from

NGINX = {"X-Original-Method": "GET", "X-Original-URI": "/orders/42"}


@pytest.fixture
def settings_overrides(tmp_path: Path) -> dict[str, Any]:
    # nginx at 127.0.0.1 in front: it appends the client it saw to X-Forwarded-For.
    return {"routes_file": write_routes(tmp_path), "trusted_proxies": "127.0.0.1"}


async def set_policy(rt: App, dev: Dev, **change: Any) -> None:
    async with rt.infra.sessionmaker() as session, session.begin():
        cred = await credentials.get_for_tenant(
            session, dev.tenant_id, dev.credential_id, for_update=True
        )
        actor = Actor("system", "test", None, None)
        await rt.identity.credentials.set_policy(session, actor, cred, PolicyChange(**change))
    await rt.identity.feed.sync_now()


@pytest.mark.usefixtures("whole_minute")
async def test_decide_applies_the_policy(
    app: App, runtime: App, dev: Dev, clock: FrozenClock
) -> None:
    async with client_from(app, "127.0.0.1") as nginx:
        token = (await exchange(nginx, dev))["accessToken"]
        headers = {**bearer(token, dev), **NGINX}
        await set_policy(
            runtime,
            dev,
            allowed_cidrs=["127.0.0.8/29"],
            rate_limit="3/minute",
            scopes=["books:read"],
            expires_at=clock() + timedelta(minutes=5),
        )
        inside = await nginx.get(DECIDE_PATH, headers={**headers, "X-Forwarded-For": "127.0.0.9"})
        assert inside.status_code == 200, inside.text
        assert inside.headers["x-fluide-scopes"] == "books:read"
        outside = await nginx.get(
            DECIDE_PATH, headers={**headers, "X-Forwarded-For": "127.0.0.9, 127.0.0.20"}
        )
        assert outside.json()["code"] == "IP_NOT_ALLOWED"
        for _ in range(2):  # the refusal above spent nothing: 3 allowed in all
            ok = await nginx.get(DECIDE_PATH, headers={**headers, "X-Forwarded-For": "127.0.0.10"})
            assert ok.status_code == 200
        limited = await nginx.get(DECIDE_PATH, headers={**headers, "X-Forwarded-For": "127.0.0.10"})
        assert limited.status_code == 429  # the key's own 3/minute
        clock.advance(5 * 60)
        expired = await nginx.get(DECIDE_PATH, headers={**headers, "X-Forwarded-For": "127.0.0.9"})
        assert expired.json()["code"] == "CREDENTIAL_EXPIRED"
    # Not our proxy: its X-Forwarded-For proves nothing.
    async with client_from(app, "127.0.0.30") as stranger:
        forged = await stranger.get(
            DECIDE_PATH, headers={**headers, "X-Forwarded-For": "127.0.0.9"}
        )
        assert forged.json()["code"] in ("IP_NOT_ALLOWED", "CREDENTIAL_EXPIRED")
