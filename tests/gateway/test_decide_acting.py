"""The act-as headers at the decision endpoint (DESIGN §3.7, §3.9): checked like on a product
route, and a verified act-as passed on as identity headers, never the client's raw values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from fluide.app import App
from fluide.gateway.decide import DECIDE_PATH
from fluide.gateway.proxy import NEVER_UPSTREAM
from tests.conftest import Dev
from tests.gateway.forward_support import write_routes
from tests.gateway.test_decide import nginx, token_headers
from tests.identity.partners.support import acting, partner_with_companies


@pytest.fixture
def settings_overrides(tmp_path: Path) -> dict[str, Any]:
    return {"routes_file": write_routes(tmp_path)}


async def test_the_decision_checks_the_act_as_headers(
    client: httpx.AsyncClient, runtime: App, dev: Dev
) -> None:
    _, own, wid, (a, _b) = await partner_with_companies(client, runtime)
    _, other, owid, (oa, _ob) = await partner_with_companies(client, runtime)
    order = nginx("GET", "/orders/42")
    ok = await client.get(DECIDE_PATH, headers={**acting(own, wid, a), **order})
    assert ok.status_code == 200, ok.text
    assert (ok.headers["x-fluide-workspace-id"], ok.headers["x-fluide-company-id"]) == (wid, a)
    plain = await client.get(DECIDE_PATH, headers={**own, **order})
    assert plain.status_code == 200 and "x-fluide-company-id" not in plain.headers
    business = await token_headers(client, dev)
    for headers, status in (
        (acting(business, wid, a), 403),
        (acting(own, owid, oa), 404),
        (acting(own, wid, oa), 404),
        ({**own, "X-Workspace-Id": wid}, 400),
    ):
        resp = await client.get(DECIDE_PATH, headers={**headers, **order})
        assert resp.status_code == status, resp.text
        assert "x-fluide-company-id" not in resp.headers
    assert other  # the other partner's ids were real


def test_the_proxy_never_forwards_the_clients_act_as_headers() -> None:
    for name in (b"x-workspace-id", b"x-acting-company-id", b"x-fluide-company-id"):
        assert name in NEVER_UPSTREAM
