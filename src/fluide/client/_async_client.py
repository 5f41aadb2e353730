"""``AsyncFluideClient``: the asyncio client, the same as ``FluideClient`` awaited."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar, cast

import httpx

from fluide.client._auth import REEXCHANGE_CODES, TOKEN_PATH, Clock
from fluide.client._cache import TokenCache
from fluide.client._call import NOT_GIVEN, Call, NotGiven, Timeout, path_segment
from fluide.client._common import NO_AUTH, REVOKE_PATH, _Common, api_path, decode
from fluide.client._errors import AuthenticationError
from fluide.client._pagination import AsyncPager
from fluide.client._resource import Async
from fluide.client._retry import RetryPolicy
from fluide.client._stale import DEFAULT_LIMITS, ainstall_trace
from fluide.client._token import Token
from fluide.client.models import SecretRotation
from fluide.client.resources import HR, Authorize, Books, Pay, Payroll, Utils, Workspaces

R = TypeVar("R")


class AsyncFluideClient(_Common):
    """Asyncio client; safe to share between tasks (and between event loops). Its resources
    are the sync client's, awaited: ``await fluide.hr.employees.get(id)``,
    ``async for employee in fluide.hr.employees.list()``."""

    hr: HR[Async]
    payroll: Payroll[Async]
    pay: Pay[Async]
    books: Books[Async]
    utils: Utils[Async]
    authorize: Authorize[Async]
    workspaces: Workspaces[Async]

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
        self._bind_resources()

    def _bind_resources(self) -> None:
        self.hr, self.payroll, self.pay = HR(self), Payroll(self), Pay(self)
        self.books, self.utils, self.authorize = Books(self), Utils(self), Authorize(self)
        self.workspaces = Workspaces(self)

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
        if self._owns_http:
            await self._http.aclose()

    def _exchange_request(self) -> httpx.Request:
        return self.auth.exchange_request(self._http.build_request("POST", TOKEN_PATH))

    async def _with_retries(
        self, attempt_once: Callable[[], Awaitable[httpx.Response]]
    ) -> httpx.Response:
        attempt, waited, resent_stale = 0, 0.0, False
        while True:
            outcome: httpx.Response | httpx.HTTPError
            try:
                outcome = await attempt_once()
            except httpx.HTTPError as exc:
                outcome = exc
            else:
                if outcome.status_code < 400:
                    return outcome
            delay, stale = self._plan_retry(outcome, attempt, waited, resent_stale)
            resent_stale = resent_stale or stale
            await self._sleep(delay)
            waited += delay
            attempt += 1

    async def _send(
        self, method: str, path: str, json: Any, params: Any, args: dict[str, Any]
    ) -> httpx.Response:
        url = api_path(path)
        params = dict(params) if params else None
        return await self._with_retries(
            lambda: self._http.request(method.upper(), url, json=json, params=params, **args)
        )

    async def send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,  # noqa: ASYNC109 - httpx's, not a cancel scope
    ) -> httpx.Response:
        """One API call with the token, retries and typed errors; the raw ``httpx.Response``."""
        args = self._request_args(headers, timeout, None)
        return await self._send(method, path, json, params, args)

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,  # noqa: ASYNC109 - httpx's, not a cancel scope
    ) -> Any:
        """One API call; the parsed JSON body (None for 204). Raises a ``FluideError``."""
        response = await self.send(
            method, path, json=json, params=params, headers=headers, timeout=timeout
        )
        return decode(response)

    # ---- resources: how this client runs a described call ---------------------------------

    async def _invoke(self, call: Call[R]) -> R:
        if call.revoke:
            await self._sign_out(call)
            return cast(R, None)
        token = await self.token() if call.current_jti else None
        args = self._request_args(call.headers, call.timeout, call.repeatable)
        path = self._path(call, token)
        response = await self._send(call.method, path, call.json, call.params, args)
        return self._finish(call, response)

    def _bind(self, build: Callable[..., Call[Any]]) -> Callable[..., Any]:
        # The call is described when awaited, not when the coroutine is made.
        async def run(*args: Any, **kwargs: Any) -> Any:
            return await self._invoke(build(*args, **kwargs))

        return run

    def _bind_list(self, build: Callable[..., Call[Any]]) -> Callable[..., Any]:
        def pager(*args: Any, **kwargs: Any) -> AsyncPager[Any]:
            return AsyncPager(self._invoke, build(*args, **kwargs))

        return pager

    async def _sign_out(self, call: Call[Any]) -> None:
        token = self.auth.revocable_token()
        if token is not None:
            args = self._request_args(
                {**call.headers, **self.auth.session_headers(token)}, call.timeout, False
            )
            try:
                await self._with_retries(lambda: self._http.post(REVOKE_PATH, auth=NO_AUTH, **args))
            except AuthenticationError as exc:
                if exc.code not in REEXCHANGE_CODES:
                    raise
        self.auth.invalidate(token)

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

    # ---- the developer session and health as raw JSON (kept from before the resources) ------

    async def current(self) -> dict[str, Any]:
        """``GET /authorize/current`` as a dict; ``authorize.current()`` returns a model."""
        result: dict[str, Any] = await self.request("GET", "/api/v1/authorize/current")
        return result

    async def rotate_secret(self, grace_seconds: int = 0) -> SecretRotation:
        """Same as ``authorize.rotate_secret(grace_seconds=…)``."""
        return await self.authorize.rotate_secret(grace_seconds=grace_seconds)

    async def revoke(self) -> None:
        """Same as ``authorize.revoke()``: sign out the cached token."""
        await self.authorize.revoke()

    async def auth_context(self, jti: str | None = None) -> dict[str, Any]:
        """``GET /auth-context/{jti}`` as a dict; ``authorize.auth_context()`` returns a model."""
        jti = jti or (await self.token()).jti
        result: dict[str, Any] = await self.request(
            "GET", f"/api/v1/auth-context/{path_segment(jti)}"
        )
        return result

    async def health(self, product: str) -> dict[str, Any]:
        """A product's guarded health check (``hr``, ``payroll``, ``pay``, ``books``, ``utils``)."""
        result: dict[str, Any] = await self.request(
            "GET", f"/api/v1/{path_segment(product)}/health"
        )
        return result
