"""The decision and the guard agree: for any credential headers, asking
``/api/v1/gateway/decide`` about a product route answers what calling that route answers (status
and code), so an external proxy in front of a route enforces exactly the built-in guard."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fluide.gateway.decide import DECIDE_PATH
from tests.conftest import Dev, exchange
from tests.gateway.test_guard_fuzz import TOKEN, _api_key, _authorization, _client_id, _mutate


@pytest.fixture
def backend() -> str:
    """Both sides read no database: one backend is enough."""
    return "sqlite"


@pytest.fixture
async def tokens(client: httpx.AsyncClient, dev: Dev) -> dict[str, str]:
    """A full token and two narrowed ones (the exchange's ``scope``)."""
    out = {"all": (await exchange(client, dev))["accessToken"]}
    for scope in ("hr:read", "payroll:read books:read"):
        headers = {**dev.exchange_headers(), "X-Fluide-Scope": scope}
        resp = await client.post("/api/v1/authorize/token", headers=headers)
        assert resp.status_code == 200
        out[scope] = resp.json()["accessToken"]
    return out


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    authorization=_authorization,
    api_key=_api_key,
    client_id=_client_id,
    which=st.sampled_from(["all", "hr:read", "payroll:read books:read"]),
    secret=st.sampled_from([None, None, None, "fl_sk_x", "\x00SECRET"]),
    path=st.sampled_from(["/api/v1/hr/health", "/api/v1/payroll/health"]),
    data=st.data(),
)
async def test_decision_equals_the_product_guard(
    client: httpx.AsyncClient,
    dev: Dev,
    tokens: dict[str, str],
    authorization: Any,
    api_key: Any,
    client_id: Any,
    which: str,
    secret: str | None,
    path: str,
    data: st.DataObject,
) -> None:
    token = tokens[which]
    if isinstance(authorization, str):
        if authorization.endswith(f"{TOKEN}-mutated"):
            authorization = "Bearer " + _mutate(data, token)
        authorization = authorization.replace(TOKEN, token)
    if api_key == "\x00KEY":
        api_key = dev.api_key
    if secret == "\x00SECRET":
        secret = dev.api_secret
    headers: list[tuple[str, bytes]] = []
    for name, value in (
        ("Authorization", authorization),
        ("X-Fluide-Api-Key", api_key),
        ("X-Fluide-Client-Id", client_id),
        ("X-Fluide-Api-Secret", secret),
    ):
        if value is not None:
            headers.append(
                (name, value.encode("latin-1", "replace") if isinstance(value, str) else value)
            )
    direct = await client.get(path, headers=headers)
    original = [("X-Original-Method", b"GET"), ("X-Original-URI", path.encode())]
    decided = await client.get(DECIDE_PATH, headers=headers + original)
    if direct.status_code == 200:
        assert decided.status_code == 200, decided.text
        return
    assert decided.status_code == direct.status_code, (direct.text, decided.text)
    assert decided.json()["code"] == direct.json()["code"]
    assert decided.headers.get("www-authenticate") == direct.headers.get("www-authenticate")
