"""The guard as a pure ASGI middleware: checks 1–10 of DESIGN §3.5 before routing.

Every request whose path starts with a product prefix passes here; nothing under those
prefixes reaches a route without a principal. Checks 11 (scope) and 12 (rate limit) need the
route, so they run in ``guard.GuardedRoute.handle`` once routing has picked it, reading the
principal this middleware put in ``scope["state"]``. Check 1 (no ``X-Fluide-Api-Secret``)
runs here for every other request too, the exchange's ``POST`` excepted: developer-session,
auth-context, account, dashboard, public and unknown paths alike answer 400 and flag a live
secret, through the same exposure path as product routes. Every request (product or not) is
counted for metrics.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fluide.gateway.authn import verified_principal
from fluide.gateway.exposure import candidate_keys, flag_exposure
from fluide.gateway.routes import EXCHANGE_PATHS, is_product_path
from fluide.identity import formats
from fluide.identity.audit import Actor
from fluide.identity.errors import ApiSecretNotAllowed
from fluide.identity.principal import Principal, check_principal
from fluide.kit.errors import AppError, send_error
from fluide.kit.proxies import scope_client_address

if TYPE_CHECKING:
    from fluide.gateway.core import Gateway

log = logging.getLogger("fluide.gateway")

_AUTHORIZATION = b"authorization"
_API_KEY = b"x-fluide-api-key"
_CLIENT_ID = b"x-fluide-client-id"
_API_SECRET = b"x-fluide-api-secret"


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path


class GatewayMiddleware:
    def __init__(self, app: ASGIApp, gateway: Gateway) -> None:
        self.app = app
        self.gateway = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http":
            if kind == "websocket" and is_product_path(_route_path(scope)):
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
            return
        path = _route_path(scope)
        if is_product_path(path):
            await self._product(scope, receive, send)
            return
        if not (scope["method"] == "POST" and path in EXCHANGE_PATHS):
            for name, value in scope["headers"]:
                if name == _API_SECRET:
                    await self._refuse_secret(scope, send, value.decode("latin-1"))
                    return

        status = 500

        async def send_public(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_public)
        finally:
            self.gateway.metrics.request(scope["method"], self.gateway.template_of(scope), status)

    async def _product(self, scope: Scope, receive: Receive, send: Send) -> None:
        gw = self.gateway
        rt = gw.runtime
        authorization = api_key = client_id = secret = None
        for name, value in scope["headers"]:
            if name == _AUTHORIZATION:
                if authorization is None:
                    authorization = value.decode("latin-1")
            elif name == _API_KEY:
                if api_key is None:
                    api_key = value.decode("latin-1")
            elif name == _CLIENT_ID:
                if client_id is None:
                    client_id = value.decode("latin-1")
            elif name == _API_SECRET and secret is None:
                secret = value.decode("latin-1")
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        now_dt = rt.clock()
        principal: Principal | None = None
        try:
            if secret is not None:
                await self._exposure(scope, state, secret, api_key, authorization)
                raise ApiSecretNotAllowed
            principal = verified_principal(
                gw.cache,
                authorization=authorization,
                api_key=api_key,
                client_id=client_id,
                keyset=rt.keyset,
                issuer=gw.issuer,
                now=now_dt.timestamp(),
                leeway=gw.leeway,
            )
            check_principal(principal, api_key=api_key, client_id=client_id or "", view=rt.view)
        except AppError as exc:
            await self._deny(scope, send, state, exc)
            gw.denied(scope, exc.code, exc.status, principal, now_dt)
            return

        state["principal"] = principal
        status = 500

        async def send_product(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                limit_headers = state.get("ratelimit_headers")
                if limit_headers is not None:
                    message["headers"] = [*message.get("headers", ()), *limit_headers]
            await send(message)

        try:
            await self.app(scope, receive, send_product)
        finally:
            gw.passed(scope, principal, state.get("denial"), status, now_dt)

    async def _refuse_secret(self, scope: Scope, send: Send, secret: str) -> None:
        """Check 1 on a route that is neither a product's nor the exchange."""
        api_key = authorization = None
        for name, value in scope["headers"]:
            if name == _AUTHORIZATION and authorization is None:
                authorization = value.decode("latin-1")
            elif name == _API_KEY and api_key is None:
                api_key = value.decode("latin-1")
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        await self._exposure(scope, state, secret, api_key, authorization)
        exc = ApiSecretNotAllowed()
        await self._deny(scope, send, state, exc)
        self.gateway.denied(scope, exc.code, exc.status, None, self.gateway.runtime.clock())

    async def _exposure(
        self,
        scope: Scope,
        state: dict[str, object],
        secret: str,
        api_key: str | None,
        authorization: str | None,
    ) -> None:
        """Flag a live secret; never raises (the 400 is the answer whatever happens here)."""
        gw = self.gateway
        rt = gw.runtime
        try:
            if not formats.is_api_secret(secret):
                return
            keys = candidate_keys(rt, api_key, authorization)
            if not keys:
                return
            # An exposure check costs a query: it spends the key's product budget and a budget
            # per source address, so a flood of well-formed values is not a flood of queries.
            source_ip = self._source_ip(scope)
            if not gw.exposure_limiter.hit_memory(source_ip or "-", time.time()).allowed:
                return
            keys = [k for k in keys if (await gw.limiter.hit(k)).allowed]
            if keys:
                rid = state.get("request_id")
                actor = Actor("anonymous", None, source_ip, rid if isinstance(rid, str) else None)
                await flag_exposure(rt, actor, keys, secret, _route_path(scope))
        except Exception as exc:
            log.warning("secret exposure check failed", extra={"error_type": type(exc).__name__})

    def _source_ip(self, scope: Scope) -> str | None:
        # Only an exposure check needs the address: no header scan on the hot path.
        return scope_client_address(scope, self.gateway.runtime.proxies)

    async def _deny(
        self, scope: Scope, send: Send, state: dict[str, object], exc: AppError
    ) -> None:
        rid = state.get("request_id")
        headers = [(b"cache-control", b"no-store")]
        headers.extend(
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in exc.headers.items()
        )
        await send_error(
            send,
            exc.status,
            exc.code,
            exc.message,
            rid if isinstance(rid, str) else "-",
            headers=headers,
        )
