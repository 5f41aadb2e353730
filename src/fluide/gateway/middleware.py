"""The pipeline's edge, as a pure ASGI middleware: the exchange's lane, or the guard's checks 1–10
of DESIGN §3.5 before routing.

Every request is counted (metrics, access log) by ``Gateway.observe``, which the pipeline's
outermost layer (``kit.middleware``) calls once the answer is out.

- ``POST`` of the exchange (``EXCHANGE_PATHS``) goes to the exchange's lane (``exchange``),
  skipping FastAPI's and Starlette's layers (``identity.exchange.lane``), or to FastAPI under a
  ``root_path``. It may carry ``X-Fluide-Api-Secret``: that is where the secret goes.
  ``POST /oauth/token``, the same exchange in OAuth's format (``identity.oauth.token``), has a
  lane of its own too (``oauth_token``), after check 1: its secret comes in Basic or the form.
- Every request whose path starts with a product prefix runs check 1 (no secret) and checks
  2–10 (``identity.authn``, with the verified-token cache) here; nothing under those
  prefixes reaches a route without a principal. Checks 11 (scope) and 12 (rate limit) need the
  route, so they run in ``guard.GuardedRoute.handle`` once routing has picked it, reading the
  principal this middleware put in ``scope["state"]``.
- Every other request runs check 1: developer-session, auth-context, account, dashboard, public
  and unknown paths alike answer 400 and flag a live secret, through the same exposure path as
  product routes.

Guarding other services (docs/gateway.md): ``/api/v1/gateway/decide`` (and nginx's denial page
``/api/v1/gateway/denied``) are answered here, and a path under a route with an upstream URL is
checked the same way and forwarded (``gateway.proxy``); ``gateway.decide`` has the checks.

Each request's credential headers are read once (``identity.authn.read_headers``): here for the
guard and check 1, in the lane for the exchange.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import datetime

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fluide.gateway import decide as fa
from fluide.gateway.acting_audit import WRITES
from fluide.gateway.core import Gateway
from fluide.gateway.guard import GATEWAY
from fluide.gateway.proxy import upstream_headers
from fluide.gateway.routes import EXCHANGE_PATHS, is_product_path
from fluide.identity import formats
from fluide.identity.audit import Actor
from fluide.identity.authn import CallerHeaders, bound_caller, read_headers, verified_caller
from fluide.identity.dpop import ProofInvalid
from fluide.identity.errors import ApiSecretNotAllowed, DpopProofInvalid
from fluide.identity.oauth.wire import TOKEN_PATH
from fluide.identity.partners.acting import acting_caller
from fluide.identity.principal import Principal, dpop_token
from fluide.kit.errors import AppError, send_error
from fluide.kit.proxies import scope_client_address

# What nginx's denial page is told of a decision's refusal (deploy/nginx/nginx.conf).
_DENIAL_HEADERS = (
    b"x-fluide-error-code",
    b"x-fluide-error-scope",
    b"retry-after",
    b"x-fluide-error-variant",
)
log = logging.getLogger("fluide.gateway")


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path


class GatewayMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        gateway: Gateway,
        exchange: ASGIApp | None = None,
        oauth_token: ASGIApp | None = None,
    ) -> None:
        self.app = app
        self.gateway = gateway
        self.exchange = exchange
        self.oauth_token = oauth_token

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
            await self._product(scope, receive, send, read_headers(scope["headers"]))
            return
        if fa.is_decide_path(path):
            await self._decide(scope, send, path)
            return
        target = self.app
        if scope["method"] == "POST" and path in EXCHANGE_PATHS:
            if self.exchange is not None and not scope.get("root_path"):
                target = self.exchange
        else:
            h = read_headers(scope["headers"])
            if h.secret is not None:
                await self._refuse_secret(scope, send, h)
                return
            if path == fa.DENIED_PATH:
                await self._denied(scope, send)
                return
            route = self.gateway.routes.match_proxied(path)
            if route is not None:
                await self._proxy(scope, receive, send, h, route)
                return
            if (
                path == TOKEN_PATH
                and scope["method"] == "POST"
                and self.oauth_token is not None
                and not scope.get("root_path")
            ):
                target = self.oauth_token
        await target(scope, receive, send)

    async def _product(self, scope: Scope, receive: Receive, send: Send, h: CallerHeaders) -> None:
        gw = self.gateway
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        now_dt = gw.clock()
        principal: Principal | None = None
        try:
            if h.secret is not None:
                await self._exposure(scope, state, h.secret, h.api_key, h.authorization)
                raise ApiSecretNotAllowed
            # Checks 2–6, then 7–10: a denial of 7–10 counts under the token's credential.
            now = now_dt.timestamp()
            principal = verified_caller(h, gw.identity, now, cache=gw.cache, dpop=True)
            # Then the credential's policy: expiry, networks, scopes (the principal it returns).
            client = scope.get("client")
            principal = bound_caller(principal, h, gw.identity, now, client[0] if client else None)
            if principal.jkt is not None:  # a DPoP-bound token: its proof (RFC 9449 §7.1)
                await self._dpop(scope, h, principal.jkt)
            # DESIGN §3.7: X-Workspace-Id + X-Acting-Company-Id, checked from memory (only when
            # one was sent: ``read_headers`` noticed it, and without one the check is a no-op).
            if h.acting is not None:
                principal = acting_caller(principal, scope["headers"], gw.identity.tenancy)
        except AppError as exc:
            # Counted first: the refusal's route template is known before its answer starts.
            gw.denied(scope, exc.code, exc.status, principal, now_dt)
            await self._deny(scope, send, state, exc)
            return

        state["principal"] = principal
        state[GATEWAY] = gw
        if principal.company_id is not None and scope["method"] in WRITES:
            await self._acting_write(scope, receive, send, principal, now_dt)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            gw.passed(principal, state.get("denial"), now_dt)

    async def _acting_write(
        self, scope: Scope, receive: Receive, send: Send, principal: Principal, now: datetime
    ) -> None:
        """A product write made while acting (DESIGN §3.7): answered as any product call, then
        audited when it succeeded (``gateway.acting_audit``). Only these calls pay for the
        status wrapper; every other takes the plain path above."""
        gw = self.gateway
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            gw.passed(principal, scope["state"].get("denial"), now)
        if status < 400:
            await gw.acting_writes.record(scope, principal, gw.template_of(scope), status)

    async def _dpop(self, scope: Scope, h: CallerHeaders, jkt: str) -> None:
        """The request's ``DPoP`` proof for its bound token: made by the token's key for this
        method and URL (``FLUIDE_BASE_URL`` + the path: the URL the client addressed, whatever
        proxies stand between), fresh, used once; else ``DPOP_PROOF_INVALID``."""
        assert h.authorization is not None  # verified_caller took the DPoP scheme's token
        try:
            await self.gateway.dpop.verify(
                scope["headers"],
                method=scope["method"],
                url=self.gateway.base_url + _route_path(scope),
                access_token=dpop_token(h.authorization),
                jkt=jkt,
            )
        except ProofInvalid as exc:
            log.info("DPoP proof refused", extra={"reason": exc.reason})
            raise DpopProofInvalid from None

    async def _authorize(
        self,
        scope: Scope,
        state: dict[str, object],
        h: CallerHeaders,
        original: fa.Original,
        seen: list[Principal],
    ) -> tuple[fa.Route, Principal, list[tuple[bytes, bytes]]]:
        """The route of ``original``, checks 2–12 on it, and the identity headers."""
        gw = self.gateway
        now = gw.clock().timestamp()
        route = fa.find_route(gw, original)
        client = scope.get("client")
        peer = client[0] if client else None
        principal = await fa.run_guard(gw, h, route, original.method, now, seen, peer)
        # DESIGN §3.7 here too: an upstream never sees an act-as header the guard did not check.
        principal = acting_caller(principal, scope["headers"], gw.identity.tenancy)
        rid = state.get("request_id")
        rid = rid if isinstance(rid, str) else "-"
        context = fa.context_token(gw, principal, route, original, rid, int(now))
        return route, principal, fa.identity_headers(principal, context)

    async def _decide(self, scope: Scope, send: Send, path: str) -> None:
        """``/api/v1/gateway/decide``: check 1, then the original request's route and 2–12."""
        state = scope.setdefault("state", {})
        h = read_headers(scope["headers"])
        seen: list[Principal] = []
        try:
            if h.secret is not None:
                await self._exposure(scope, state, h.secret, h.api_key, h.authorization)
                raise ApiSecretNotAllowed
            original = fa.original_request(scope, path)
            _, principal, identity = await self._authorize(scope, state, h, original, seen)
        except AppError as exc:
            await self._deny(scope, send, state, exc, fa.error_headers(exc))
            verified = seen[0] if seen else None
            self.gateway.decided(
                scope,
                fa.DECIDE_PATH,
                exc.status,
                exc.code,
                verified,
                self.gateway.clock(),
            )
            return
        headers = [(b"content-length", b"0"), (b"cache-control", b"no-store"), *identity]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        self.gateway.decided(scope, fa.DECIDE_PATH, 200, None, principal, self.gateway.clock())

    async def _denied(self, scope: Scope, send: Send) -> None:
        """nginx's denial page: the decision's envelope again, from its ``X-Fluide-Error-*``."""
        state = scope.setdefault("state", {})
        found = dict.fromkeys(_DENIAL_HEADERS)
        for name, value in scope["headers"]:
            if name in found and found[name] is None:
                found[name] = value
        code, needed, retry, variant = (v.decode("latin-1") if v else None for v in found.values())
        exc = fa.denial_from_headers(code, needed, retry, variant)
        await self._deny(scope, send, state, exc)
        state["route_template"] = fa.DENIED_PATH  # counted and logged by Gateway.observe

    async def _proxy(
        self, scope: Scope, receive: Receive, send: Send, h: CallerHeaders, route: fa.Route
    ) -> None:
        """The built-in proxy: a request on a route with an upstream URL (gateway.proxy)."""
        gw = self.gateway
        state = scope.setdefault("state", {})
        seen: list[Principal] = []
        raw = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        status, code = 500, None
        caller: Principal | None = None  # once authorized: acting for a company, if it does
        try:
            # The same method and path checks as a decision (the two must agree).
            original = fa.Original(fa.checked_method(scope["method"]), fa.checked_path(raw))
            route, caller, identity = await self._authorize(scope, state, h, original, seen)
            query = scope.get("query_string", b"").decode("latin-1")
            url = route.upstream + raw + (f"?{query}" if query else "")
            headers = upstream_headers(scope, identity, self._source_ip(scope))
            status = await gw.forwarder.forward(scope, receive, send, url, headers)
        except AppError as exc:
            await self._deny(scope, send, state, exc)
            status, code = exc.status, exc.code
        finally:
            # Counted under the company it acted for (DESIGN §3.7), as a decision's 200 is.
            verified = caller if caller is not None else (seen[0] if seen else None)
            gw.decided(scope, route.prefix, status, code, verified, gw.clock())

    async def _refuse_secret(self, scope: Scope, send: Send, h: CallerHeaders) -> None:
        """Check 1 on a route that is neither a product's nor the exchange."""
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        assert h.secret is not None
        await self._exposure(scope, state, h.secret, h.api_key, h.authorization)
        exc = ApiSecretNotAllowed()
        self.gateway.denied(scope, exc.code, exc.status, None, self.gateway.clock())
        await self._deny(scope, send, state, exc)

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
        try:
            if not formats.is_api_secret(secret):
                return
            keys = gw.exposure.candidate_keys(api_key, authorization)
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
                await gw.exposure.flag(actor, keys, secret, _route_path(scope))
        except Exception as exc:
            log.warning("secret exposure check failed", extra={"error_type": type(exc).__name__})

    def _source_ip(self, scope: Scope) -> str | None:
        # Only an exposure check needs the address: no header scan on the hot path.
        return scope_client_address(scope, self.gateway.proxies)

    async def _deny(
        self,
        scope: Scope,
        send: Send,
        state: dict[str, object],
        exc: AppError,
        extra: Iterable[tuple[bytes, bytes]] = (),
    ) -> None:
        rid = state.get("request_id")
        headers = [(b"cache-control", b"no-store"), *extra]
        headers.extend(
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in exc.headers.items()
        )
        await send_error(
            send,
            exc.status,
            exc.code,
            exc.message,
            rid if isinstance(rid, str) else "-",
            exc.errors,  # VALIDATION_FAILED only (the act-as headers' shape)
            headers=headers,
        )
