"""What ``FluideClient`` and ``AsyncFluideClient`` share: configuration, the offline key
check, ``with_options``, how a described call becomes httpx arguments, and the retry decisions.

The resources describe each call as data (``_call.Call``); the two clients differ only in how
they run one: ``_invoke`` with blocking I/O in one, awaited in the other.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import random
import time
from collections.abc import Mapping
from typing import Any, Self, TypeVar

import httpx

from fluide.client._auth import DEFAULT_CLIENT_ID, TOKEN_PATH, Clock, FluideAuth, mask_key
from fluide.client._cache import TokenCache
from fluide.client._call import NOT_GIVEN, Call, NotGiven, Timeout, path_segment
from fluide.client._errors import ConfigurationError, FluideConnectionError, error_from_response
from fluide.client._formats import is_api_key, is_api_secret
from fluide.client._resource import Executor
from fluide.client._retry import REPEATABLE, RetryPolicy, repeatable
from fluide.client._stale import lost_on_stale_connection
from fluide.client._token import Token
from fluide.client._version import __version__

R = TypeVar("R")
ENV_BASE_URL = "FLUIDE_BASE_URL"
ENV_API_KEY = "FLUIDE_API_KEY"
ENV_API_SECRET = "FLUIDE_API_SECRET"  # noqa: S105 - an environment variable's name
ENV_CLIENT_ID = "FLUIDE_CLIENT_ID"
API_PREFIX = "/api/v1"
REVOKE_PATH = "/api/v1/authorize/revoke"
NO_AUTH = httpx.Auth()  # the base class passes requests through untouched


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


class _Common(Executor):
    """Configuration and what the sync and async clients share."""

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
        _check_formats(str(resolved[ENV_API_KEY]), str(resolved[ENV_API_SECRET]))
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
            "User-Agent": f"fluide-python/{__version__}",
            "Accept": "application/json",
        }
        self._timeout: Timeout | NotGiven = NOT_GIVEN  # the httpx client's own unless set
        self._extra_headers: dict[str, str] = {}
        self._owns_http = True

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_url={self.base_url!r}, "
            f"api_key={mask_key(self.api_key)!r}, client_id={self.client_id!r})"
        )

    def _bind_resources(self) -> None:
        raise NotImplementedError

    def with_options(
        self,
        *,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        retry: RetryPolicy | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Self:
        """A client with other defaults that shares this one's token and connection pool:
        ``fluide.with_options(timeout=5, max_retries=0).hr.employees.list()``. Closing it does
        not close the pool; close the client it came from."""
        clone = copy.copy(self)
        if not isinstance(timeout, NotGiven):
            clone._timeout = timeout
        if not isinstance(retry, NotGiven):
            clone.retry = retry
        if not isinstance(max_retries, NotGiven):
            clone.retry = dataclasses.replace(clone.retry, max_retries=max_retries)
        clone._extra_headers = {**self._extra_headers, **(extra_headers or {})}
        clone._owns_http = False
        clone._bind_resources()
        return clone

    def acting_as(self, workspace_id: str, company_id: str) -> Self:
        """A client whose every call acts for a partner's client company (it sends
        ``X-Workspace-Id`` and ``X-Acting-Company-Id``); it shares this one's token and pool.
        The token must carry ``partner:client:act-as`` (docs/partners.md)."""
        if not workspace_id or not company_id:
            raise ValueError("acting_as needs a workspace id and a company id")
        return self.with_options(
            extra_headers={"X-Workspace-Id": workspace_id, "X-Acting-Company-Id": company_id}
        )

    def _request_args(
        self,
        headers: Mapping[str, str] | None,
        timeout: Timeout | NotGiven,
        repeatable_: bool | None,
    ) -> dict[str, Any]:
        """httpx keyword arguments: merged headers, the timeout, the retry declaration."""
        if isinstance(timeout, NotGiven):
            timeout = self._timeout
        merged = {**self._extra_headers, **(headers or {})}
        return {
            "headers": merged or None,
            "timeout": httpx.USE_CLIENT_DEFAULT if isinstance(timeout, NotGiven) else timeout,
            "extensions": {REPEATABLE: repeatable_} if repeatable_ is not None else None,
        }

    @staticmethod
    def _path(call: Call[Any], token: Token | None) -> str:
        if call.current_jti:
            assert token is not None
            return call.path.format(jti=path_segment(token.jti))
        return call.path

    @staticmethod
    def _finish(call: Call[R], response: httpx.Response) -> R:
        result = call.parse(response)
        if call.after is not None:
            call.after(result)
        return result

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
        at the cost of one audit row and one count against the exchange rate limit. A POST the
        server does not deduplicate is never resent: the server may have acted on it.
        """
        request = lost_on_stale_connection(exc)
        return request is not None and (repeatable(request) or self.auth.is_token_request(request))

    def _plan_retry(
        self, outcome: httpx.Response | httpx.HTTPError, attempt: int, waited: float, stale: bool
    ) -> tuple[float, bool]:
        """After a failed attempt: (seconds to wait, whether it is the call's one stale-connection
        resend); raises the error to give up with when it must not or may no longer be retried."""
        if isinstance(outcome, httpx.Response):
            delay = self.retry.delay_for_response(outcome, attempt)
            if delay is None or not self.retry.allows(attempt, waited, delay):
                raise error_from_response(outcome)
            return delay, False
        if isinstance(outcome, httpx.ConnectError | httpx.ConnectTimeout):  # nothing was sent
            delay = self.retry.delay_for_connect_error(attempt)
            if not self.retry.allows(attempt, waited, delay):
                raise self._connection_error(outcome, self.base_url) from outcome
            return delay, False
        if isinstance(outcome, httpx.TransportError):
            # A request the server dropped unread on a stale keep-alive connection: once.
            delay = self.retry.delay_for_stale_connection(attempt)
            if (
                not stale
                and self._resendable(outcome)
                and self.retry.allows(attempt, waited, delay)
            ):
                return delay, True
        raise self._connection_error(outcome, self.base_url) from outcome


def _check_formats(api_key: str, api_secret: str) -> None:
    """A mistyped key or secret fails here, offline, naming neither value (DESIGN §4)."""
    for what, env, ok in (
        ("API key", ENV_API_KEY, is_api_key(api_key)),
        ("API secret", ENV_API_SECRET, is_api_secret(api_secret)),
    ):
        if not ok:
            raise ConfigurationError(
                f"The {what} ({env}) is not a well-formed Fluide {what}: its prefix, length or "
                "checksum is wrong (a character mistyped, missing or added, or surrounding "
                "whitespace). Copy it again from the dashboard."
            )
