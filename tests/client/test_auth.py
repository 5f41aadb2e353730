"""``FluideAuth`` on its own: the flow's edges that the real server cannot be made to show.

The server here is an ``httpx.MockTransport`` playing a misbehaving server (one that keeps
rejecting fresh tokens): the flow must still stop after one re-exchange and one retry.
"""

from __future__ import annotations

import json
import random

import httpx
import pytest

from fluide.client import AuthenticationError, FluideAuth, FluideClient, FluideError
from tests.client.keys import KEY, SECRET

TOKEN_URL = "http://fluide.test/api/v1/authorize/token"


def token_body(n: int) -> dict[str, object]:
    return {
        "accessToken": f"jwt-{n}",
        "tokenType": "Bearer",
        "exp": 2_000_000_900,
        "iat": 2_000_000_000,
        "expiresIn": 900,
        "jti": f"jti-{n}",
        "tenantId": "t1",
        "scope": "hr:read",
    }


def error(status: int, code: str) -> httpx.Response:
    return httpx.Response(status, json={"success": False, "code": code, "message": code})


def test_a_server_that_keeps_rejecting_tokens_does_not_cause_a_loop() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path.endswith("/token"):
            return httpx.Response(200, json=token_body(len(seen)))
        return error(401, "TOKEN_REVOKED")

    fluide = FluideClient("http://fluide.test", KEY, SECRET, transport=httpx.MockTransport(handler))
    with pytest.raises(AuthenticationError) as caught:
        fluide.health("hr")
    assert caught.value.code == "TOKEN_REVOKED"
    assert seen == [
        "/api/v1/authorize/token",
        "/api/v1/hr/health",
        "/api/v1/authorize/token",
        "/api/v1/hr/health",
    ]


@pytest.mark.parametrize("code", ["TOKEN_INVALID", "API_KEY_MISMATCH", "CREDENTIAL_REVOKED"])
def test_other_401s_are_not_re_exchanged(code: str) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path.endswith("/token"):
            return httpx.Response(200, json=token_body(1))
        return error(401, code)

    fluide = FluideClient("http://fluide.test", KEY, SECRET, transport=httpx.MockTransport(handler))
    with pytest.raises(AuthenticationError) as caught:
        fluide.current()
    assert caught.value.code == code
    assert len(seen) == 2


def test_standalone_auth_on_a_plain_httpx_client() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/token"):
            return httpx.Response(200, json=token_body(1))
        return httpx.Response(200, json={"ok": True})

    auth = FluideAuth(api_key=KEY, api_secret=SECRET, token_url=TOKEN_URL, rng=random.Random(0))
    with httpx.Client(auth=auth, transport=httpx.MockTransport(handler), timeout=5) as http:
        assert http.get("http://fluide.test/api/v1/hr/health").json() == {"ok": True}
        http.get("http://fluide.test/api/v1/pay/health")
    exchange, product, again = seen
    assert exchange.headers["x-fluide-api-secret"] == SECRET
    assert exchange.extensions["timeout"]["read"] == 5  # the caller's timeout is kept
    assert product.headers["authorization"] == "Bearer jwt-1"
    assert "x-fluide-api-secret" not in product.headers
    assert "x-fluide-api-secret" not in again.headers
    assert auth.exchange_count == 1
    assert SECRET not in repr(auth) and "jwt-1" not in repr(auth.cached_token)


def test_scope_is_sent_in_the_exchange_body() -> None:
    bodies: list[object] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token"):
            bodies.append(json.loads(request.content))
            return httpx.Response(200, json=token_body(1))
        return httpx.Response(204)

    fluide = FluideClient(
        "http://fluide.test",
        KEY,
        SECRET,
        scope="hr:read",
        transport=httpx.MockTransport(handler),
    )
    assert fluide.request("DELETE", "hr/things/1") is None
    assert bodies == [{"scope": "hr:read"}]


def test_a_200_without_a_token_is_an_error_not_a_success() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"hello": "world"})

    fluide = FluideClient("http://fluide.test", KEY, SECRET, transport=httpx.MockTransport(handler))
    with pytest.raises(FluideError) as caught:
        fluide.health("hr")
    assert caught.value.code == "TOKEN_RESPONSE_INVALID"


def test_one_async_lock_per_event_loop() -> None:
    import asyncio

    auth = FluideAuth(api_key=KEY, api_secret="s", token_url=TOKEN_URL)

    async def locks() -> tuple[asyncio.Lock, asyncio.Lock]:
        return auth.async_lock(), auth.async_lock()

    a1, a2 = asyncio.run(locks())
    b1, _ = asyncio.run(locks())
    assert a1 is a2  # same loop, same lock
    assert b1 is not a1  # a lock is never shared across loops


def test_token_method_keeps_the_clients_timeout() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=token_body(1))

    fluide = FluideClient(
        "http://fluide.test",
        KEY,
        SECRET,
        timeout=7,
        transport=httpx.MockTransport(handler),
    )
    assert fluide.token().jti == "jti-1"
    assert seen[0].extensions["timeout"]["read"] == 7
    assert seen[0].headers["user-agent"].startswith("fluide-python/")
