"""``FluideClient``: the synchronous client (``AsyncFluideClient`` is in ``_async_client``)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar, cast

import httpx

from fluide.client._auth import REEXCHANGE_CODES, TOKEN_PATH, Clock
from fluide.client._cache import TokenCache
from fluide.client._call import NOT_GIVEN, Call, NotGiven, Timeout, path_segment
from fluide.client._common import NO_AUTH, REVOKE_PATH, _Common, api_path, decode
from fluide.client._errors import AuthenticationError
from fluide.client._pagination import PageData, SyncPage
from fluide.client._resource import Sync
from fluide.client._retry import RetryPolicy
from fluide.client._stale import DEFAULT_LIMITS, install_trace
from fluide.client._token import Token
from fluide.client.models import SecretRotation
from fluide.client.resources import HR, Authorize, Books, Pay, Payroll, Utils, Workspaces

__all__ = ["FluideClient", "SecretRotation", "api_path", "decode"]

R = TypeVar("R")


class FluideClient(_Common):
    """Synchronous client. Thread-safe: share one instance between threads.

    Arguments default to ``FLUIDE_BASE_URL``, ``FLUIDE_API_KEY``, ``FLUIDE_API_SECRET``
    (and ``FLUIDE_CLIENT_ID``, default ``fluide-developer``). ``limits`` are the connection
    pool's (default: httpx's sizes, idle connections dropped after 2 s, before the server's
    5 s keep-alive); a ``transport`` you pass brings its own pool, and ``limits`` is then unused.
    """

    hr: HR[Sync]
    payroll: Payroll[Sync]
    pay: Pay[Sync]
    books: Books[Sync]
    utils: Utils[Sync]
    authorize: Authorize[Sync]
    workspaces: Workspaces[Sync]

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
        self._bind_resources()

    def _bind_resources(self) -> None:
        self.hr, self.payroll, self.pay = HR(self), Payroll(self), Pay(self)
        self.books, self.utils, self.authorize = Books(self), Utils(self), Authorize(self)
        self.workspaces = Workspaces(self)

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
        if self._owns_http:
            self._http.close()

    def _exchange_request(self) -> httpx.Request:
        # Built from a client request so it keeps the client's timeouts and User-Agent.
        return self.auth.exchange_request(self._http.build_request("POST", TOKEN_PATH))

    def _with_retries(self, attempt_once: Callable[[], httpx.Response]) -> httpx.Response:
        attempt, waited, resent_stale = 0, 0.0, False
        while True:
            outcome: httpx.Response | httpx.HTTPError
            try:
                outcome = attempt_once()
            except httpx.HTTPError as exc:
                outcome = exc
            else:
                if outcome.status_code < 400:
                    return outcome
            delay, stale = self._plan_retry(outcome, attempt, waited, resent_stale)
            resent_stale = resent_stale or stale
            self._sleep(delay)
            waited += delay
            attempt += 1

    def _send(
        self, method: str, path: str, json: Any, params: Any, args: dict[str, Any]
    ) -> httpx.Response:
        url = api_path(path)
        params = dict(params) if params else None
        return self._with_retries(
            lambda: self._http.request(method.upper(), url, json=json, params=params, **args)
        )

    def send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
    ) -> httpx.Response:
        """One API call with the token, retries and typed errors; the raw ``httpx.Response``."""
        return self._send(method, path, json, params, self._request_args(headers, timeout, None))

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
    ) -> Any:
        """One API call; the parsed JSON body (None for 204). Raises a ``FluideError``."""
        response = self.send(
            method, path, json=json, params=params, headers=headers, timeout=timeout
        )
        return decode(response)

    # ---- resources: how this client runs a described call ---------------------------------

    def _invoke(self, call: Call[R]) -> R:
        if call.revoke:
            self._sign_out(call)
            return cast(R, None)
        token = self.token() if call.current_jti else None
        args = self._request_args(call.headers, call.timeout, call.repeatable)
        response = self._send(call.method, self._path(call, token), call.json, call.params, args)
        return self._finish(call, response)

    def _bind(self, build: Callable[..., Call[Any]]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            return self._invoke(build(*args, **kwargs))

        return run

    def _bind_list(self, build: Callable[..., Call[Any]]) -> Callable[..., Any]:
        def first_page(*args: Any, **kwargs: Any) -> SyncPage[Any]:
            call: Call[PageData[Any]] = build(*args, **kwargs)
            return SyncPage(self._invoke, call, self._invoke(call))

        return first_page

    def _sign_out(self, call: Call[Any]) -> None:
        token = self.auth.revocable_token()
        if token is not None:
            args = self._request_args(
                {**call.headers, **self.auth.session_headers(token)}, call.timeout, False
            )
            try:
                # This token precisely, not through the flow (which could mint a new one).
                self._with_retries(lambda: self._http.post(REVOKE_PATH, auth=NO_AUTH, **args))
            except AuthenticationError as exc:
                if exc.code not in REEXCHANGE_CODES:  # already expired or revoked: done
                    raise
        self.auth.invalidate(token)

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

    # ---- the developer session and health as raw JSON (kept from before the resources) ------

    def current(self) -> dict[str, Any]:
        """``GET /authorize/current`` as a dict; ``authorize.current()`` returns a model."""
        result: dict[str, Any] = self.request("GET", "/api/v1/authorize/current")
        return result

    def rotate_secret(self, grace_seconds: int = 0) -> SecretRotation:
        """Same as ``authorize.rotate_secret(grace_seconds=…)``."""
        return self.authorize.rotate_secret(grace_seconds=grace_seconds)

    def revoke(self) -> None:
        """Same as ``authorize.revoke()``: sign out the cached token."""
        self.authorize.revoke()

    def auth_context(self, jti: str | None = None) -> dict[str, Any]:
        """``GET /auth-context/{jti}`` as a dict; ``authorize.auth_context()`` returns a model."""
        result: dict[str, Any] = self.request(
            "GET", f"/api/v1/auth-context/{path_segment(jti or self.token().jti)}"
        )
        return result

    def health(self, product: str) -> dict[str, Any]:
        """A product's guarded health check (``hr``, ``payroll``, ``pay``, ``books``, ``utils``)."""
        result: dict[str, Any] = self.request("GET", f"/api/v1/{path_segment(product)}/health")
        return result
