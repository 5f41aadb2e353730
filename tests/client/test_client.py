"""The async client against the real app over ASGI: single flight, refresh, re-exchange,
typed errors, and the secret never leaving for a non-token route."""

from __future__ import annotations

import asyncio
import random

import httpx
import pytest

from fluide.app import App
from fluide.client import (
    AsyncFluideClient,
    AuthenticationError,
    ConfigurationError,
    FluideConnectionError,
    NotFoundError,
    PermissionDeniedError,
    RetryPolicy,
    ValidationError,
)
from fluide.identity import formats
from fluide.kit.clock import FrozenClock
from tests.client.keys import KEY, SECRET
from tests.client.support import SECRET_HEADER, Recorder, asgi_recording, exchange_rows
from tests.conftest import CLIENT_ID, Dev, bearer, create_dev, exchange

BASE = "http://testserver"
PRODUCTS = ("hr", "payroll", "pay", "books", "utils")


def make_client(app: App, dev: Dev, recorder: Recorder, **kw: object) -> AsyncFluideClient:
    return AsyncFluideClient(
        BASE,
        dev.api_key,
        kw.pop("api_secret", dev.api_secret),  # type: ignore[arg-type]
        transport=asgi_recording(app, recorder),
        rng=random.Random(7),
        **kw,  # type: ignore[arg-type]
    )


def assert_no_secret_off_the_token_route(recorder: Recorder) -> None:
    assert recorder.other_calls, "nothing but exchanges was recorded"
    for call in recorder.other_calls:
        assert SECRET_HEADER not in call.headers, call.path
        assert call.headers["authorization"].startswith("Bearer ")
        assert call.headers["x-fluide-client-id"] == CLIENT_ID
        assert call.headers["x-fluide-api-key"]
    for call in recorder.token_calls:
        assert SECRET_HEADER in call.headers
        assert "authorization" not in call.headers


async def test_100_concurrent_calls_on_a_cold_client_cause_one_exchange(
    app: App, dev: Dev, runtime: App
) -> None:
    recorder = Recorder()
    async with make_client(app, dev, recorder) as fluide:
        results = await asyncio.gather(*(fluide.health(PRODUCTS[i % 5]) for i in range(100)))
    assert all(r["status"] == "ok" for r in results)
    assert len(recorder.token_calls) == 1
    assert len(recorder.other_calls) == 100
    assert await exchange_rows(runtime, dev.credential_id) == 1
    assert_no_secret_off_the_token_route(recorder)


async def test_refreshes_before_exp_without_a_failed_call(
    app: App, dev: Dev, clock: FrozenClock
) -> None:
    recorder = Recorder(clock=lambda: clock().timestamp())
    fluide = make_client(app, dev, recorder, clock=lambda: clock().timestamp())
    async with fluide:
        await fluide.health("hr")
        first = fluide.auth.cached_token
        assert first is not None
        # Inside the refresh window (skew 60 s + up to 10 s jitter) but before exp.
        clock.advance(first.expires_at - clock().timestamp() - 59)
        await fluide.health("hr")
        second = fluide.auth.cached_token
        assert second is not None and second.jti != first.jti
        # Well past the first token's exp: the client already holds the new one.
        clock.advance(120)
        await fluide.health("payroll")
    assert len(recorder.token_calls) == 2
    assert recorder.token_calls[1].at < first.expires_at
    assert recorder.statuses(401) == []
    # The control: the server really refuses the first token by now.
    async with httpx.AsyncClient(transport=asgi_recording(app, Recorder()), base_url=BASE) as raw:
        resp = await raw.get("/api/v1/hr/health", headers=bearer(first.access_token, dev))
    assert resp.status_code == 401 and resp.json()["code"] == "TOKEN_EXPIRED"


async def test_token_revoked_behind_its_back_is_re_exchanged_once(
    app: App, dev: Dev, client: httpx.AsyncClient
) -> None:
    recorder = Recorder()
    async with make_client(app, dev, recorder) as fluide:
        await fluide.health("hr")
        token = fluide.auth.cached_token
        assert token is not None
        resp = await client.post(
            "/api/v1/authorize/revoke", headers=bearer(token.access_token, dev)
        )
        assert resp.status_code == 204
        assert (await fluide.health("hr"))["status"] == "ok"
        assert (await fluide.health("books"))["status"] == "ok"
    assert len(recorder.token_calls) == 2
    rejected = recorder.statuses(401)
    assert [r.code for r in rejected] == ["TOKEN_REVOKED"]
    assert_no_secret_off_the_token_route(recorder)


async def test_token_expired_by_the_servers_clock_is_re_exchanged_once(
    app: App, dev: Dev, clock: FrozenClock
) -> None:
    # The client's clock lags the server's: it believes its token is fresh, the server not.
    recorder = Recorder()
    client_now = clock().timestamp()
    async with make_client(app, dev, recorder, clock=lambda: client_now) as fluide:
        await fluide.health("hr")
        clock.advance(3600)
        assert (await fluide.health("hr"))["status"] == "ok"
    assert len(recorder.token_calls) == 2
    assert [r.code for r in recorder.statuses(401)] == ["TOKEN_EXPIRED"]


async def test_wrong_secret_raises_authentication_error_after_one_attempt(
    app: App, dev: Dev
) -> None:
    recorder = Recorder()
    wrong = formats.new_api_secret()  # well-formed (a mistyped one never leaves the client)
    async with make_client(app, dev, recorder, api_secret=wrong) as fluide:
        with pytest.raises(AuthenticationError) as caught:
            await fluide.health("hr")
    err = caught.value
    assert err.code == "DEVELOPER_KEYS_INVALID" and err.status == 401
    assert err.request_id and err.request_id != "-"
    assert len(recorder.log) == 1 and recorder.log[0].is_token
    for text in (str(err), repr(err), repr(fluide), repr(fluide.auth)):
        assert wrong not in text and dev.api_secret not in text


async def test_no_request_but_the_exchange_ever_carries_the_secret(app: App, dev: Dev) -> None:
    recorder = Recorder()
    async with make_client(app, dev, recorder) as fluide:
        for product in PRODUCTS:
            await fluide.health(product)
        await fluide.current()
        await fluide.auth_context()
        # Even a caller who adds the header by mistake does not leak it.
        await fluide.request("GET", "hr/health", headers={"X-Fluide-Api-Secret": dev.api_secret})
        rotation = await fluide.rotate_secret(grace_seconds=3600)
        await fluide.revoke()
        await fluide.health("utils")
    assert len(recorder.token_calls) == 2
    assert recorder.token_calls[1].headers[SECRET_HEADER] == rotation.api_secret
    assert_no_secret_off_the_token_route(recorder)
    assert all(call.status < 400 for call in recorder.log)


async def test_session_helpers(app: App, dev: Dev) -> None:
    recorder = Recorder()
    async with make_client(app, dev, recorder) as fluide:
        current = await fluide.current()
        assert current["apiKey"] == dev.api_key and current["tenantId"] == dev.tenant_id
        assert "apiSecret" not in current
        token = await fluide.token()
        context = await fluide.auth_context()
        assert context["jti"] == token.jti and context["status"] == "active"
        assert await fluide.request("GET", "/api/v1/hr/health") == await fluide.health("hr")
        with pytest.raises(NotFoundError) as caught:
            await fluide.auth_context("no-such-jti")
        assert caught.value.code == "NOT_FOUND" and caught.value.status == 404
        await fluide.revoke()
        assert fluide.auth.cached_token is None
    # The revoked token is really dead on the server.
    async with httpx.AsyncClient(transport=asgi_recording(app, Recorder()), base_url=BASE) as raw:
        resp = await raw.get("/api/v1/hr/health", headers=bearer(token.access_token, dev))
    assert resp.json()["code"] == "TOKEN_REVOKED"


async def test_rotate_secret_without_grace_switches_to_the_new_secret(
    app: App, dev: Dev, client: httpx.AsyncClient
) -> None:
    recorder = Recorder()
    async with make_client(app, dev, recorder) as fluide:
        await fluide.health("hr")
        rotation = await fluide.rotate_secret()
        assert rotation.api_key == dev.api_key and rotation.api_secret != dev.api_secret
        assert rotation.api_secret not in repr(rotation)
        assert fluide.auth.cached_token is None
        assert (await fluide.health("hr"))["status"] == "ok"
    assert len(recorder.token_calls) == 2
    assert recorder.statuses(401) == []
    assert recorder.token_calls[1].headers[SECRET_HEADER] == rotation.api_secret
    old = await client.post("/api/v1/authorize/token", headers=dev.exchange_headers())
    assert old.json()["code"] == "DEVELOPER_KEYS_INVALID"


async def test_narrowed_scope_raises_permission_error_naming_the_scope(app: App, dev: Dev) -> None:
    async with make_client(app, dev, Recorder(), scope="hr:read") as fluide:
        assert (await fluide.health("hr"))["status"] == "ok"
        with pytest.raises(PermissionDeniedError) as caught:
            await fluide.health("payroll")
    assert caught.value.code == "INSUFFICIENT_SCOPE" and caught.value.status == 403
    assert caught.value.scope == "payroll:read"


async def test_validation_error_carries_field_errors(app: App, dev: Dev) -> None:
    async with make_client(app, dev, Recorder()) as fluide:
        with pytest.raises(ValidationError) as caught:
            await fluide.rotate_secret(grace_seconds=-1)
    assert caught.value.code == "VALIDATION_FAILED" and caught.value.status == 400
    assert any("graceSeconds" in field for field in caught.value.errors)


async def test_unverified_developer_gets_a_permission_error(app: App, runtime: App) -> None:
    unverified = await create_dev(runtime, verified=False)
    async with make_client(app, unverified, Recorder()) as fluide:
        with pytest.raises(PermissionDeniedError) as caught:
            await fluide.health("hr")
    assert caught.value.code == "EMAIL_NOT_VERIFIED" and caught.value.scope is None


async def test_configuration_from_the_environment(
    app: App, dev: Dev, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLUIDE_BASE_URL", BASE)
    monkeypatch.setenv("FLUIDE_API_KEY", dev.api_key)
    monkeypatch.setenv("FLUIDE_API_SECRET", dev.api_secret)
    recorder = Recorder()
    async with AsyncFluideClient(transport=asgi_recording(app, recorder)) as fluide:
        assert fluide.client_id == CLIENT_ID
        assert (await fluide.health("hr"))["service"] == "fluide-hr"
    monkeypatch.delenv("FLUIDE_API_SECRET")
    with pytest.raises(ConfigurationError) as caught:
        AsyncFluideClient()
    assert "FLUIDE_API_SECRET" in str(caught.value)


async def test_absolute_urls_are_refused(app: App, dev: Dev) -> None:
    recorder = Recorder()
    async with make_client(app, dev, recorder) as fluide:
        with pytest.raises(ValueError, match="absolute URL"):
            await fluide.request("GET", "https://elsewhere.example/api/v1/hr/health")
    assert recorder.log == []


async def test_unreachable_server_raises_connection_error_after_bounded_retries() -> None:
    with socket_port() as port:
        pass  # the port is closed again: nothing listens there
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    fluide = AsyncFluideClient(
        f"http://127.0.0.1:{port}",
        KEY,
        SECRET,
        retry=RetryPolicy(max_retries=2),
        sleep=fake_sleep,
    )
    async with fluide:
        with pytest.raises(FluideConnectionError) as caught:
            await fluide.health("hr")
    assert caught.value.code == "CONNECTION_ERROR" and caught.value.status is None
    assert len(slept) == 2


class socket_port:
    """Reserve a free port, then release it."""

    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        port: int = self.sock.getsockname()[1]
        return port

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


async def test_revoke_signs_out_the_cached_token_itself(
    app: App, dev: Dev, clock: FrozenClock, client: httpx.AsyncClient
) -> None:
    recorder = Recorder()
    async with make_client(app, dev, recorder, clock=lambda: clock().timestamp()) as fluide:
        await fluide.revoke()  # nothing cached: nothing sent
        assert recorder.log == []
        token = await fluide.token()
        # In the refresh window the client would not send this token again, but it lives on
        # the server until exp: revoke must kill it, not a freshly minted one.
        clock.advance(token.expires_at - clock().timestamp() - 30)
        await fluide.revoke()
        assert fluide.auth.cached_token is None
        # Revoked behind its back first: revoke() is then a no-op, not an error.
        await fluide.health("hr")
        again = fluide.auth.cached_token
        assert again is not None
        await client.post("/api/v1/authorize/revoke", headers=bearer(again.access_token, dev))
        await fluide.revoke()
    assert len(recorder.token_calls) == 2
    revokes = [c for c in recorder.log if c.path == "/api/v1/authorize/revoke"]
    assert [c.headers["authorization"] for c in revokes] == [
        f"Bearer {token.access_token}",
        f"Bearer {again.access_token}",
    ]
    assert [c.status for c in revokes] == [204, 401]
    fresh = await exchange(client, dev)
    ctx = await client.get(
        f"/api/v1/auth-context/{token.jti}", headers=bearer(fresh["accessToken"], dev)
    )
    assert ctx.json()["status"] == "revoked"


async def test_100_concurrent_calls_in_the_refresh_window_cause_one_refresh(
    app: App, dev: Dev, clock: FrozenClock
) -> None:
    recorder = Recorder(clock=lambda: clock().timestamp())
    async with make_client(app, dev, recorder, clock=lambda: clock().timestamp()) as fluide:
        first = await fluide.token()
        clock.advance(first.expires_at - clock().timestamp() - 1)
        await asyncio.gather(*(fluide.health("hr") for _ in range(100)))
    assert len(recorder.token_calls) == 2
    assert all(call.at < first.expires_at for call in recorder.token_calls)
    assert recorder.statuses(401) == []
    assert len({c.headers["authorization"] for c in recorder.other_calls}) == 1
