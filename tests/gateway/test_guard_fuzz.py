"""Hypothesis: random Authorization / API key / client id values never get a 5xx, on product
routes and on the token exchange (where, also, only the secret ever exchanges)."""

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
TOKEN_PATH = "/api/v1/authorize/token"


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


# ---- the token exchange -------------------------------------------------------------------------

SECRET = "\x00SECRET"  # replaced by the credential's real secret in the test body
_json_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=80),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
)
# Each strategy repeats its plausible branch, so most examples get past the header checks to
# the secret (with all branches equally likely, four in five stopped at a missing header).
_exchange_key = st.one_of(
    st.just("\x00KEY"),
    st.just("\x00KEY"),
    st.builds(formats.new_api_key),
    st.none(),
    _header_bytes,
    st.text(max_size=80),
)
_exchange_secret = st.one_of(
    st.just(SECRET),
    st.sampled_from(["fl_sk_decoy", " ", f"{SECRET} ", f"{SECRET}x", "\x00PREFIX", "\x00KEY"]),
    st.builds(formats.new_api_secret),
    st.none(),
    _header_bytes,
    st.text(max_size=80),
)
_exchange_client = st.one_of(st.just(CLIENT_ID), st.just(CLIENT_ID), _client_id)
_body_extra = st.one_of(
    st.just({}),
    st.just({}),
    st.dictionaries(
        st.sampled_from(["apiKey", "apiSecret", "clientId", "scope", "other"]), _json_value
    ),
)


def _resolve(value: Any, dev: Dev) -> Any:
    if isinstance(value, str):
        value = value.replace("\x00PREFIX", dev.api_secret[:-1])
        return value.replace("\x00KEY", dev.api_key).replace(SECRET, dev.api_secret)
    return value


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
@settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    api_key=_exchange_key,
    secret=_exchange_secret,
    client_id=_exchange_client,
    in_body=st.booleans(),
    extra=_body_extra,
)
async def test_random_exchange_inputs_never_5xx_and_only_the_secret_exchanges(
    client: httpx.AsyncClient,
    dev: Dev,
    api_key: Any,
    secret: Any,
    client_id: Any,
    in_body: bool,
    extra: dict[str, Any],
) -> None:
    """Headers or a JSON body (of any shape), any values: never a 5xx, and a 200 only for the
    credential's own secret (lock-outs never refuse it, DESIGN §3.2)."""
    api_key, secret = _resolve(api_key, dev), _resolve(secret, dev)
    headers: list[tuple[str, bytes]] = []
    body: dict[str, Any] = dict(extra)
    for name, field, value in (
        ("X-Fluide-Api-Key", "apiKey", api_key),
        ("X-Fluide-Api-Secret", "apiSecret", secret),
        ("X-Fluide-Client-Id", "clientId", client_id),
    ):
        if value is None:
            continue
        if in_body and isinstance(value, str):
            body[field] = value
        else:
            raw = value.encode("utf-8") if isinstance(value, str) else value
            headers.append((name, raw))
    resp = await client.post(TOKEN_PATH, headers=headers, json=body if body else None)
    assert resp.status_code < 500, (resp.status_code, resp.text)
    if resp.status_code >= 400:
        assert resp.json()["code"] != "INTERNAL_ERROR"
    if resp.status_code == 200:
        # The value the server used (a non-empty header wins over the body) was the secret.
        sent = dict(headers).get("X-Fluide-Api-Secret", b"").decode("latin-1")
        assert (sent or body.get("apiSecret")) == dev.api_secret
        assert resp.json()["tenantId"] == dev.tenant_id
