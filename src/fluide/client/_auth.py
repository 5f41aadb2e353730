"""Token handling as an ``httpx.Auth`` flow, sync and async.

- The first request exchanges key + secret at the token endpoint; that exchange is the only
  request that ever carries ``X-Fluide-Api-Secret`` (the flow strips it from anything else).
- The token is cached until ``refresh_at`` (expiry minus a skew with jitter), then refreshed
  before the next request: no request is sent with a token the client knows is about to die.
- Single flight: one lock per process for threads, one ``asyncio.Lock`` per event loop; the
  lock is held only around the exchange, so N concurrent cold callers cause one exchange.
- A 401 ``TOKEN_EXPIRED`` / ``TOKEN_REVOKED`` drops the token, re-exchanges once and retries
  once. The retried answer is final, whatever it is: the flow never loops.
- A failed exchange ends the flow with the exchange's own response, so the caller maps it to
  a typed error in one place (and may retry a 429 like any other).

The flows read a response body only where they must (the exchange, a 401's code), so streamed
product responses stay streamed.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
import weakref
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any

import httpx

from fluide.client._cache import TokenCache, cache_key
from fluide.client._errors import FluideError
from fluide.client._token import Token

DEFAULT_CLIENT_ID = "fluide-developer"
TOKEN_PATH = "/api/v1/authorize/token"  # noqa: S105 - a path, not a password
SECRET_HEADER = "X-Fluide-Api-Secret"  # noqa: S105 - a header name
REEXCHANGE_CODES = frozenset({"TOKEN_EXPIRED", "TOKEN_REVOKED"})
USER_AGENT = "fluide-python"

Clock = Callable[[], float]


def mask_key(api_key: str) -> str:
    """Enough of a key to tell keys apart in a repr or a log line."""
    return api_key[:11] + "…" if len(api_key) > 11 else "…"


class FluideAuth(httpx.Auth):
    """Exchanges, caches and refreshes the access token; adds the three product headers.

    Usable on its own: ``httpx.Client(auth=FluideAuth(...))``. ``clock`` returns epoch
    seconds (inject one to test refresh without sleeping); ``cache`` is an optional
    :class:`TokenCache` shared across processes.
    """

    def __init__(
        self,
        *,
        api_key: str,
        api_secret: str,
        token_url: str | httpx.URL,
        client_id: str = DEFAULT_CLIENT_ID,
        scope: str | None = None,
        skew: float = 60.0,
        jitter: float = 10.0,
        clock: Clock = time.time,
        rng: random.Random | None = None,
        cache: TokenCache | None = None,
    ) -> None:
        self.api_key = api_key
        self._secret = api_secret
        self.token_url = httpx.URL(token_url)
        self.client_id = client_id
        self.scope = scope
        self.skew = skew
        self.jitter = jitter
        self.clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._cache = cache
        self._cache_key = cache_key(str(self.token_url), api_key, client_id, scope)
        self._token: Token | None = None
        self.thread_lock = threading.Lock()
        self._loop_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._loop_locks_guard = threading.Lock()
        self.exchange_count = 0

    def __repr__(self) -> str:
        return f"FluideAuth(api_key={mask_key(self.api_key)!r}, client_id={self.client_id!r})"

    # ---- state ---------------------------------------------------------------------------

    @property
    def cached_token(self) -> Token | None:
        """The token held in memory, usable or not (None before the first exchange)."""
        return self._token

    def usable_token(self) -> Token | None:
        """The token to send now, from memory or the cache file; None if one must be fetched."""
        now = self.clock()
        token = self._token
        if token is not None and token.usable(now):
            return token
        if self._cache is not None:
            cached = self._cache.load(self._cache_key, now)
            if cached is not None:
                self._token = cached
                return cached
        return None

    def invalidate(self, token: Token | None = None) -> None:
        """Forget the cached token (only if it is still ``token``, when given)."""
        current = self._token
        if token is None or current is None or current.access_token == token.access_token:
            self._token = None
        if self._cache is not None:
            self._cache.discard(self._cache_key, token.jti if token is not None else None)

    def set_secret(self, api_secret: str, *, drop_token: bool) -> None:
        """Use a rotated secret from now on; drop the token when the old one was revoked."""
        self._secret = api_secret
        if drop_token:
            self.invalidate()

    def async_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        with self._loop_locks_guard:
            lock = self._loop_locks.get(loop)
            if lock is None:
                lock = self._loop_locks[loop] = asyncio.Lock()
            return lock

    # ---- building blocks shared by both flows --------------------------------------------

    def is_token_request(self, request: httpx.Request) -> bool:
        u, t = request.url, self.token_url
        return (u.scheme, u.host, u.port, u.path) == (t.scheme, t.host, t.port, t.path)

    def exchange_request(self, like: httpx.Request | None = None) -> httpx.Request:
        """The ``POST /authorize/token`` request: the one place the secret is ever sent."""
        headers = {
            "X-Fluide-Api-Key": self.api_key,
            SECRET_HEADER: self._secret,
            "X-Fluide-Client-Id": self.client_id,
            "Accept": "application/json",
            "User-Agent": like.headers.get("user-agent", USER_AGENT) if like else USER_AGENT,
        }
        # Keep the caller's timeouts: a request built here would otherwise have none.
        extensions = (
            {"timeout": like.extensions["timeout"]}
            if like and "timeout" in (like.extensions)
            else {}
        )
        body: dict[str, Any] | None = {"scope": self.scope} if self.scope else None
        return httpx.Request(
            "POST", self.token_url, headers=headers, json=body, extensions=extensions
        )

    def accept(self, response: httpx.Response, sent_at: float) -> Token | None:
        """Cache the token from a 200 exchange; None for an error answer (left to the caller)."""
        if response.status_code != 200:
            return None
        try:
            body = response.json()
            token = Token.from_exchange(
                body, sent_at=sent_at, skew=self.skew, jitter=self.jitter, rng=self._rng
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise FluideError(
                "The token endpoint answered 200 without a usable token",
                code="TOKEN_RESPONSE_INVALID",
                status=200,
                request_id=response.headers.get("x-request-id"),
            ) from exc
        self._token = token
        self.exchange_count += 1
        if self._cache is not None:
            self._cache.store(self._cache_key, token, self.clock())
        return token

    def session_headers(self, token: Token) -> dict[str, str]:
        """The three headers every non-token request carries."""
        return {
            "Authorization": f"Bearer {token.access_token}",
            "X-Fluide-Api-Key": self.api_key,
            "X-Fluide-Client-Id": self.client_id,
        }

    def revocable_token(self) -> Token | None:
        """The token to sign out: the cached one while the server still accepts it."""
        token = self._token or self.usable_token()
        return token if token is not None and self.clock() < token.expires_at else None

    def authorize(self, request: httpx.Request, token: Token) -> httpx.Request:
        request.headers.pop(SECRET_HEADER, None)
        request.headers.update(self.session_headers(token))
        return request

    @staticmethod
    def token_rejected(response: httpx.Response) -> bool:
        """A 401 that a fresh token cures (expired or revoked), not a bad key or binding."""
        if response.status_code != 401:
            return False
        try:
            body = response.json()
        except ValueError:
            return False
        return isinstance(body, dict) and body.get("code") in REEXCHANGE_CODES

    # ---- the flows -----------------------------------------------------------------------

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        if self.is_token_request(request):
            yield request
            return
        token = self.usable_token()
        if token is None:
            with self.thread_lock:
                token = self.usable_token()
                if token is None:
                    sent_at = self.clock()
                    response = yield self.exchange_request(request)
                    response.read()
                    token = self.accept(response, sent_at)
                    if token is None:
                        return
        response = yield self.authorize(request, token)
        if response.status_code != 401:
            return
        response.read()
        if not self.token_rejected(response):
            return
        with self.thread_lock:
            fresh = self.usable_token()
            if fresh is None or fresh.access_token == token.access_token:
                self.invalidate(token)
                sent_at = self.clock()
                response = yield self.exchange_request(request)
                response.read()
                fresh = self.accept(response, sent_at)
                if fresh is None:
                    return
        yield self.authorize(request, fresh)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if self.is_token_request(request):
            yield request
            return
        token = self.usable_token()
        if token is None:
            async with self.async_lock():
                token = self.usable_token()
                if token is None:
                    sent_at = self.clock()
                    response = yield self.exchange_request(request)
                    await response.aread()
                    token = self.accept(response, sent_at)
                    if token is None:
                        return
        response = yield self.authorize(request, token)
        if response.status_code != 401:
            return
        await response.aread()
        if not self.token_rejected(response):
            return
        async with self.async_lock():
            fresh = self.usable_token()
            if fresh is None or fresh.access_token == token.access_token:
                self.invalidate(token)
                sent_at = self.clock()
                response = yield self.exchange_request(request)
                await response.aread()
                fresh = self.accept(response, sent_at)
                if fresh is None:
                    return
        yield self.authorize(request, fresh)
