"""Hypothesis: random Authorization / API key / client id values never get a 5xx."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fluide.identity import formats
from tests.conftest import CLIENT_ID, Dev, exchange


@pytest.fixture
def backend() -> str:
    """The guard reads no database: one backend is enough for 500 examples."""
    return "sqlite"


_header_bytes = st.binary(max_size=300).map(
    lambda b: bytes(c for c in b if c >= 0x20 and c != 0x7F)
)
_b64 = st.binary(max_size=120).map(lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode())
_jwtish = st.tuples(_b64, _b64, _b64).map(lambda parts: ".".join(parts))


TOKEN = "\x00TOKEN"  # replaced by a real token in the test body


def _mutate(data: st.DataObject, token: str) -> str:
    i = data.draw(st.integers(0, len(token) - 1))
    return token[:i] + data.draw(st.characters(codec="ascii")) + token[i + 1 :]


_authorization = st.one_of(
    st.none(),
    _header_bytes,
    st.text(max_size=200).map(lambda t: t.encode("utf-8")),
    _jwtish.map(lambda t: f"Bearer {t}"),
    st.just(f"Bearer {TOKEN}-mutated"),
    st.sampled_from([f"Bearer {TOKEN}", f"bearer  {TOKEN}", f"Bearer {TOKEN} x", f"{TOKEN}"]),
    st.sampled_from(
        ["Bearer", "Bearer ", "Basic x", "Bearer ...", "Bearer a..b", "Bearer \u00ff.a.b"]
    ),
)
_api_key = st.one_of(
    st.none(),
    _header_bytes,
    st.just("\x00KEY"),
    st.builds(formats.new_api_key),
    st.text(max_size=80).map(lambda t: t.encode("utf-8")),
)
_client_id = st.one_of(
    st.none(), _header_bytes, st.sampled_from([CLIENT_ID, "fluide-admin", "", "FLUIDE-DEVELOPER"])
)
_path = st.sampled_from(
    ["/api/v1/hr/health", "/api/v1/payroll/health", "/api/v1/utils/health", "/api/v1/hr/x"]
)


@pytest.fixture
async def real_token(client: httpx.AsyncClient, dev: Dev) -> str:
    token: str = (await exchange(client, dev))["accessToken"]
    return token


@settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    authorization=_authorization,
    api_key=_api_key,
    client_id=_client_id,
    secret=st.one_of(st.none(), st.none(), st.none(), _header_bytes),
    path=_path,
    data=st.data(),
)
async def test_random_guard_headers_never_5xx(
    client: httpx.AsyncClient,
    dev: Dev,
    real_token: str,
    authorization: Any,
    api_key: Any,
    client_id: Any,
    secret: Any,
    path: str,
    data: st.DataObject,
) -> None:
    if isinstance(authorization, str):
        if authorization.endswith(f"{TOKEN}-mutated"):
            authorization = "Bearer " + _mutate(data, real_token)
        authorization = authorization.replace(TOKEN, real_token)
    if api_key == "\x00KEY":
        api_key = dev.api_key
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
    resp = await client.get(path, headers=headers)
    assert resp.status_code < 500, (resp.status_code, resp.text)
    if resp.status_code >= 400:
        assert resp.json()["code"] != "INTERNAL_ERROR"
