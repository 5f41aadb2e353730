"""The two wire formats of the exchange agree on every input (hypothesis): the same key, secret
and scope sent to ``/api/v1/authorize/token`` (headers) and to ``/oauth/token`` (Basic, and the
form) both succeed with the same scopes, or both fail with corresponding errors
(``DEVELOPER_KEYS_INVALID`` ↔ ``invalid_client``, a widened scope ↔ ``invalid_scope``, a
missing value ↔ ``invalid_client``). On SQLite and on PostgreSQL."""

from __future__ import annotations

import string
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fluide.app import App
from fluide.identity import formats
from tests.conftest import Dev, create_dev
from tests.identity.oauth.support import error_of, oauth_token

TOKEN = "/api/v1/authorize/token"
SCOPES = ["hr:read", "hr:write", "books:read", "utils:read", "admin:all", "partner:client:act-as"]
_VISIBLE = string.ascii_letters + string.digits + string.punctuation


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # Many failures from one address: the lock-out is another test's subject.
    return {"exchange_failure_limit": "100000/minute", "exchange_failure_limit_long": "100000/hour"}


@pytest.fixture
async def pair(runtime: App) -> tuple[Dev, Dev]:
    return await create_dev(runtime), await create_dev(runtime)


_secret_choice = st.one_of(
    st.just(("own", "")),
    st.just(("other", "")),
    st.just(("key", "")),
    st.tuples(st.just("prefix"), st.integers(0, 60).map(str)),
    st.tuples(st.just("text"), st.text(_VISIBLE, max_size=80)),
    st.tuples(st.just("stranger"), st.text(formats.ALPHABET, min_size=43, max_size=43)),
)
_scope_choice = st.one_of(st.none(), st.lists(st.sampled_from(SCOPES), max_size=4).map(" ".join))


def _secret(dev: Dev, other: Dev, choice: tuple[str, str]) -> str:
    kind, arg = choice
    if kind == "own":
        return dev.api_secret
    if kind == "other":
        return other.api_secret
    if kind == "key":
        return dev.api_key
    if kind == "prefix":
        return dev.api_secret[: int(arg)]
    if kind == "text":
        return arg
    return formats.SECRET_PREFIX + arg + formats.checksum(formats.SECRET_PREFIX, arg)


async def _json(client: httpx.AsyncClient, key: str, secret: str, scope: str | None) -> Any:
    headers = {"X-Fluide-Api-Key": key, "X-Fluide-Client-Id": "fluide-developer"}
    if secret:
        headers["X-Fluide-Api-Secret"] = secret
    resp = await client.post(TOKEN, headers=headers, json={} if scope is None else {"scope": scope})
    if resp.status_code == 200:
        return ("ok", resp.json()["scope"])
    code = resp.json()["code"]
    if code == "VALIDATION_FAILED":
        errors = resp.json()["errors"]
        return ("scope",) if "scope" in errors else ("client",)
    assert (resp.status_code, code) == (401, "DEVELOPER_KEYS_INVALID"), resp.text
    return ("client",)


async def _oauth(
    client: httpx.AsyncClient, key: str, secret: str, scope: str | None, method: str
) -> Any:
    resp = await oauth_token(client, key, secret, method=method, scope=scope)
    if resp.status_code == 200:
        return ("ok", resp.json()["scope"])
    status, error = error_of(resp)
    expected = {"invalid_scope": (400, ("scope",)), "invalid_client": (401, ("client",))}
    assert error in expected, resp.text
    assert status == expected[error][0]
    return expected[error][1]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(choice=_secret_choice, scope=_scope_choice, swap=st.booleans())
async def test_the_two_wire_formats_agree(
    client: httpx.AsyncClient,
    pair: tuple[Dev, Dev],
    choice: tuple[str, str],
    scope: str | None,
    swap: bool,
) -> None:
    dev, other = pair if not swap else pair[::-1]
    secret = _secret(dev, other, choice)
    json_answer = await _json(client, dev.api_key, secret, scope)
    for method in ("client_secret_basic", "client_secret_post"):
        assert await _oauth(client, dev.api_key, secret, scope, method) == json_answer, method
    if json_answer[0] == "ok":
        assert secret == dev.api_secret
