"""``FluideClient`` (sync) and ``AsyncFluideClient``: thin httpx clients with the token flow,
bounded retries and typed errors."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import httpx

import fluide
from fluide.client._auth import (
    DEFAULT_CLIENT_ID,
    REEXCHANGE_CODES,
    TOKEN_PATH,
    Clock,
    FluideAuth,
    mask_key,
)
from fluide.client._cache import TokenCache
from fluide.client._errors import (
    AuthenticationError,
    ConfigurationError,
    FluideConnectionError,
    error_from_response,
)
from fluide.client._retry import RetryPolicy, repeatable
from fluide.client._stale import (
    DEFAULT_LIMITS,
    ainstall_trace,
    install_trace,
    lost_on_stale_connection,
)
from fluide.client._token import Token

ENV_BASE_URL = "FLUIDE_BASE_URL"
ENV_API_KEY = "FLUIDE_API_KEY"
ENV_API_SECRET = "FLUIDE_API_SECRET"  # noqa: S105 - an environment variable's name
ENV_CLIENT_ID = "FLUIDE_CLIENT_ID"
API_PREFIX = "/api/v1"
REVOKE_PATH = "/api/v1/authorize/revoke"
NO_AUTH = httpx.Auth()  # the base class passes requests through untouched


@dataclass(frozen=True)
class SecretRotation:
    """The answer of ``rotate_secret``: the new secret is shown once, so store it now."""

    api_key: str
    api_secret: str = field(repr=False)
    rotated_at: str | None
    previous_secret_expires_at: str | None


def _setting(value: str | None, env: str) -> str | None:
    if value:
        return value
    return os.environ.get(env) or None


def api_path(path: str) -> str:
    """``/api/v1/hr/health`` stays; ``hr/health`` or ``/hr/health`` gets the ``/api/v1`` prefix.

    Only paths: an absolute URL is refused, so the token can never be sent to another host.
    """
    if "://" in path or path.startswith("//"):
        raise ValueError("pass a path under the base URL, not an absolute URL")
    if path.startswith(API_PREFIX + "/") or path == API_PREFIX:
        return path
    return f"{API_PREFIX}/{path.lstrip('/')}"


def decode(response: httpx.Response) -> Any:
    """The parsed JSON body; None for an empty body; text for a non-JSON one."""
    if response.status_code == 204 or not response.content:
        return None
    if "json" in response.headers.get("content-type", ""):
        return response.json()
    return response.text


class _Common:
    """Configuration and helpers shared by the sync and async clients."""

    def __init__(
        self,
        base_url: str | None,
        api_key: str | None,
        api_secret: str | None,
        *,
        client_id: str | None,
        scope: str | None,
        token_skew: float,
        token_jitter: float,
        token_cache: TokenCache | None,
        clock: Clock | None,
        retry: RetryPolicy | None,
        rng: random.Random | None,
    ) -> None:
        resolved = {
            ENV_BASE_URL: _setting(base_url, ENV_BASE_URL),
            ENV_API_KEY: _setting(api_key, ENV_API_KEY),
            ENV_API_SECRET: _setting(api_secret, ENV_API_SECRET),
        }
        missing = [name for name, value in resolved.items() if not value]
        if missing:
            raise ConfigurationError(
                "Missing client configuration: pass it as arguments or set " + ", ".join(missing)
            )
        self.base_url = str(resolved[ENV_BASE_URL]).rstrip("/")
        self.api_key = str(resolved[ENV_API_KEY])
        self.client_id = _setting(client_id, ENV_CLIENT_ID) or DEFAULT_CLIENT_ID
        self.clock: Clock = clock or time.time
        self.retry = retry or RetryPolicy()
        self.auth = FluideAuth(
            api_key=self.api_key,
            api_secret=str(resolved[ENV_API_SECRET]),
            token_url=self.base_url + TOKEN_PATH,
            client_id=self.client_id,
            scope=scope,
            skew=token_skew,
            jitter=token_jitter,
            clock=self.clock,
            rng=rng,
            cache=token_cache,
        )
        self._headers = {
            "User-Agent": f"fluide-python/{fluide.__version__}",
            "Accept": "application/json",
        }

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_url={self.base_url!r}, "
            f"api_key={mask_key(self.api_key)!r}, client_id={self.client_id!r})"
        )

    @staticmethod
    def _connection_error(exc: httpx.HTTPError, base_url: str) -> FluideConnectionError:
        code = "TIMEOUT" if isinstance(exc, httpx.TimeoutException) else "CONNECTION_ERROR"
        return FluideConnectionError(
            f"Could not complete the request to {base_url} ({type(exc).__name__})", code=code
        )

    def _resendable(self, exc: httpx.TransportError) -> bool:
        """``exc`` lost a request on a stale keep-alive connection that may be sent again.

        The token exchange is a POST, yet it is resent: a second exchange only mints a second
        token (the lost one, if the server minted it at all, is never seen and expires unused),
        at the cost of one audit row and one count against the exchange rate limit. A plain
        product POST is never resent: the server may have acted on it.
        """
        request = lost_on_stale_connection(exc)
        return request is not None and (repeatable(request) or self.auth.is_token_request(request))

    def _rotation(self, body: Any, grace_seconds: int) -> SecretRotation:
        rotation = SecretRotation(
            api_key=str(body["apiKey"]),
            api_secret=str(body["apiSecret"]),
            rotated_at=body.get("rotatedAt"),
            previous_secret_expires_at=body.get("previousSecretExpiresAt"),
        )
        # With no grace the server revoked every token minted before the rotation.
        self.auth.set_secret(rotation.api_secret, drop_token=grace_seconds == 0)
        return rotation


class FluideClient(_Common):
    """Synchronous client. Thread-safe: share one instance between threads.

    Arguments default to ``FLUIDE_BASE_URL``, ``FLUIDE_API_KEY``, ``FLUIDE_API_SECRET``
    (and ``FLUIDE_CLIENT_ID``, default ``fluide-developer``). ``limits`` are the connection
    pool's (default: httpx's sizes, idle connections dropped after 2 s, before the server's
    5 s keep-alive); a ``transport`` you pass brings its own pool, and ``limits`` is then unused.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        api_secret: str | None = None,
        *,
        client_id: str | None = None,
        scope: str | None = None,
        timeout: float | httpx.Timeout = 30.0,
        retry: RetryPolicy | None = None,
        token_skew: float = 60.0,
        token_jitter: float = 10.0,
        token_cache: TokenCache | None = None,
        clock: Clock | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        transport: httpx.BaseTransport | None = None,
        limits: httpx.Limits | None = None,
    ) -> None:
        super().__init__(
            base_url,
            api_key,
            api_secret,
            client_id=client_id,
            scope=scope,
            token_skew=token_skew,
            token_jitter=token_jitter,
            token_cache=token_cache,
            clock=clock,
            retry=retry,
            rng=rng,
        )
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self.base_url,
            auth=self.auth,
            headers=self._headers,
            timeout=timeout,
            transport=transport,
            limits=limits or DEFAULT_LIMITS,
            event_hooks={"request": [install_trace]},
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _exchange_request(self) -> httpx.Request:
        # Built from a client request so it keeps the client's timeouts and User-Agent.
        return self.auth.exchange_request(self._http.build_request("POST", TOKEN_PATH))

    def _with_retries(self, attempt_once: Callable[[], httpx.Response]) -> httpx.Response:
        attempt, waited, resent_stale = 0, 0.0, False
        while True:
            try:
                response = attempt_once()
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:  # nothing was sent
                delay = self.retry.delay_for_connect_error(attempt)
                if not self.retry.allows(attempt, waited, delay):
                    raise self._connection_error(exc, self.base_url) from exc
            except httpx.TransportError as exc:
                # A request the server dropped unread on a stale keep-alive connection: once.
                delay = self.retry.delay_for_stale_connection(attempt)
                if (
                    resent_stale
                    or not self._resendable(exc)
                    or not self.retry.allows(attempt, waited, delay)
                ):
                    raise self._connection_error(exc, self.base_url) from exc
                resent_stale = True
            except httpx.HTTPError as exc:
                raise self._connection_error(exc, self.base_url) from exc
            else:
                if response.status_code < 400:
                    return response
                delay_or_none = self.retry.delay_for_response(response, attempt)
                if delay_or_none is None or not self.retry.allows(attempt, waited, delay_or_none):
                    raise error_from_response(response)
                delay = delay_or_none
            self._sleep(delay)
            waited += delay
            attempt += 1

    def send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One API call with the token, retries and typed errors; the raw ``httpx.Response``."""
        url = api_path(path)
        return self._with_retries(
            lambda: self._http.request(
                method.upper(),
                url,
                json=json,
                params=dict(params) if params else None,
                headers=dict(headers) if headers else None,
            )
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """One API call; the parsed JSON body (None for 204). Raises a ``FluideError``."""
        return decode(self.send(method, path, json=json, params=params, headers=headers))

    def token(self, *, force: bool = False) -> Token:
        """The current access token, exchanging (once, single-flight) when needed."""
        if force:
            self.auth.invalidate()
        token = self.auth.usable_token()
        if token is not None:
            return token
        with self.auth.thread_lock:
            token = self.auth.usable_token()
            if token is not None:
                return token

            def exchange_once() -> httpx.Response:
                sent_at[0] = self.clock()
                return self._http.send(self._exchange_request(), auth=None)

            sent_at = [0.0]
            response = self._with_retries(exchange_once)
            token = self.auth.accept(response, sent_at[0])
            assert token is not None  # _with_retries raised for any error status
            return token

    # ---- developer session (DESIGN §3.3) -------------------------------------------------

    def current(self) -> dict[str, Any]:
        """Metadata of the credential behind the token (never the secret)."""
        result: dict[str, Any] = self.request("GET", "/api/v1/authorize/current")
        return result

    def rotate_secret(self, grace_seconds: int = 0) -> SecretRotation:
        """Rotate the secret and keep using the new one. With grace 0 the old secret and every
        token minted with it stop at once, so the cached token is dropped too."""
        body = self.request(
            "POST", "/api/v1/authorize/rotate-secret", json={"graceSeconds": grace_seconds}
        )
        return self._rotation(body, grace_seconds)

    def revoke(self) -> None:
        """Revoke the cached token (sign-out); no request when there is none. The next call
        exchanges a new token."""
        token = self.auth.revocable_token()
        if token is not None:
            headers = self.auth.session_headers(token)
            try:
                # This token precisely, not through the flow (which could mint a new one).
                self._with_retries(
                    lambda: self._http.post(REVOKE_PATH, headers=headers, auth=NO_AUTH)
                )
            except AuthenticationError as exc:
                if exc.code not in REEXCHANGE_CODES:  # already expired or revoked: done
                    raise
        self.auth.invalidate(token)

    def auth_context(self, jti: str | None = None) -> dict[str, Any]:
        """The context of one of this credential's tokens (the current one by default)."""
        result: dict[str, Any] = self.request(
            "GET", f"/api/v1/auth-context/{jti or self.token().jti}"
        )
        return result

    def health(self, product: str) -> dict[str, Any]:
        """A product's guarded health check (``hr``, ``payroll``, ``pay``, ``books``, ``utils``)."""
        result: dict[str, Any] = self.request("GET", f"/api/v1/{product}/health")
        return result


class AsyncFluideClient(_Common):
    """Asyncio client; safe to share between tasks (and between event loops)."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        api_secret: str | None = None,
        *,
        client_id: str | None = None,
        scope: str | None = None,
        timeout: float | httpx.Timeout = 30.0,
        retry: RetryPolicy | None = None,
        token_skew: float = 60.0,
        token_jitter: float = 10.0,
        token_cache: TokenCache | None = None,
        clock: Clock | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        limits: httpx.Limits | None = None,
    ) -> None:
        super().__init__(
            base_url,
            api_key,
            api_secret,
            client_id=client_id,
            scope=scope,
            token_skew=token_skew,
            token_jitter=token_jitter,
            token_cache=token_cache,
            clock=clock,
            retry=retry,
            rng=rng,
        )
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            auth=self.auth,
            headers=self._headers,
            timeout=timeout,
            transport=transport,
            limits=limits or DEFAULT_LIMITS,
            event_hooks={"request": [ainstall_trace]},
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def _exchange_request(self) -> httpx.Request:
        return self.auth.exchange_request(self._http.build_request("POST", TOKEN_PATH))

    async def _with_retries(
        self, attempt_once: Callable[[], Awaitable[httpx.Response]]
    ) -> httpx.Response:
        attempt, waited, resent_stale = 0, 0.0, False
        while True:
            try:
                response = await attempt_once()
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                delay = self.retry.delay_for_connect_error(attempt)
                if not self.retry.allows(attempt, waited, delay):
                    raise self._connection_error(exc, self.base_url) from exc
            except httpx.TransportError as exc:
                # A request the server dropped unread on a stale keep-alive connection: once.
                delay = self.retry.delay_for_stale_connection(attempt)
                if (
                    resent_stale
                    or not self._resendable(exc)
                    or not self.retry.allows(attempt, waited, delay)
                ):
                    raise self._connection_error(exc, self.base_url) from exc
                resent_stale = True
            except httpx.HTTPError as exc:
                raise self._connection_error(exc, self.base_url) from exc
            else:
                if response.status_code < 400:
                    return response
                delay_or_none = self.retry.delay_for_response(response, attempt)
                if delay_or_none is None or not self.retry.allows(attempt, waited, delay_or_none):
                    raise error_from_response(response)
                delay = delay_or_none
            await self._sleep(delay)
            waited += delay
            attempt += 1

    async def send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One API call with the token, retries and typed errors; the raw ``httpx.Response``."""
        url = api_path(path)
        return await self._with_retries(
            lambda: self._http.request(
                method.upper(),
                url,
                json=json,
                params=dict(params) if params else None,
                headers=dict(headers) if headers else None,
            )
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """One API call; the parsed JSON body (None for 204). Raises a ``FluideError``."""
        return decode(await self.send(method, path, json=json, params=params, headers=headers))

    async def token(self, *, force: bool = False) -> Token:
        """The current access token, exchanging (once, single-flight) when needed."""
        if force:
            self.auth.invalidate()
        token = self.auth.usable_token()
        if token is not None:
            return token
        async with self.auth.async_lock():
            token = self.auth.usable_token()
            if token is not None:
                return token
            sent_at = [0.0]

            async def exchange_once() -> httpx.Response:
                sent_at[0] = self.clock()
                return await self._http.send(self._exchange_request(), auth=None)

            response = await self._with_retries(exchange_once)
            token = self.auth.accept(response, sent_at[0])
            assert token is not None
            return token

    async def current(self) -> dict[str, Any]:
        """Metadata of the credential behind the token (never the secret)."""
        result: dict[str, Any] = await self.request("GET", "/api/v1/authorize/current")
        return result

    async def rotate_secret(self, grace_seconds: int = 0) -> SecretRotation:
        """Rotate the secret and keep using the new one (see ``FluideClient.rotate_secret``)."""
        body = await self.request(
            "POST", "/api/v1/authorize/rotate-secret", json={"graceSeconds": grace_seconds}
        )
        return self._rotation(body, grace_seconds)

    async def revoke(self) -> None:
        """Revoke the cached token (sign-out); no request when there is none."""
        token = self.auth.revocable_token()
        if token is not None:
            headers = self.auth.session_headers(token)
            try:
                await self._with_retries(
                    lambda: self._http.post(REVOKE_PATH, headers=headers, auth=NO_AUTH)
                )
            except AuthenticationError as exc:
                if exc.code not in REEXCHANGE_CODES:
                    raise
        self.auth.invalidate(token)

    async def auth_context(self, jti: str | None = None) -> dict[str, Any]:
        """The context of one of this credential's tokens (the current one by default)."""
        jti = jti or (await self.token()).jti
        result: dict[str, Any] = await self.request("GET", f"/api/v1/auth-context/{jti}")
        return result

    async def health(self, product: str) -> dict[str, Any]:
        """A product's guarded health check (``hr``, ``payroll``, ``pay``, ``books``, ``utils``)."""
        result: dict[str, Any] = await self.request("GET", f"/api/v1/{product}/health")
        return result
