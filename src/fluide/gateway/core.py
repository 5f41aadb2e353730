"""The gateway's per-process state: token cache, product limiter, usage, metrics.

Built by ``fluide.app`` from the infrastructure and identity's state; its middleware
(``gateway.middleware``) is the pipeline's edge. ``start`` (a start hook) checks that every
product route is guarded and starts the usage flusher; ``stop`` flushes what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from datetime import datetime

from fastapi import FastAPI
from starlette.types import Scope

from fluide.gateway import access
from fluide.gateway.acting_audit import ActingWrites
from fluide.gateway.cache import TokenCache
from fluide.gateway.limiter import ProductLimiter
from fluide.gateway.metrics import GatewayMetrics
from fluide.gateway.proxy import Forwarder
from fluide.gateway.recorder import UsageRecorder
from fluide.gateway.routes import assert_guarded, product_templates
from fluide.gateway.upstreams import load_routes
from fluide.identity.dpop_replay import DpopReplay
from fluide.identity.exposure import Exposure
from fluide.identity.principal import Principal
from fluide.identity.state import IdentityState
from fluide.kit.infra import Infrastructure

log = logging.getLogger("fluide.gateway")
UNMATCHED = "<unmatched>"


class Gateway:
    """The guard's state. From the infrastructure it takes the settings, the clock, the
    client-address rule (``proxies``), the shared limiter (with Redis) and sessions for usage;
    from identity, its in-memory state (checks 2–10), the exposure service (check 1) and the
    DPoP proofs' replay store."""

    def __init__(
        self,
        infra: Infrastructure,
        identity: IdentityState,
        exposure: Exposure,
        dpop: DpopReplay,
    ) -> None:
        settings = infra.settings
        self.settings = settings
        # DPoP-bound tokens' proofs (``identity.dpop``): checked, and their jtis used once.
        self.dpop = dpop
        self.base_url = settings.public_base_url
        self.clock = infra.clock
        self.proxies = infra.proxies
        self.identity = identity
        self.exposure = exposure
        self.cache = TokenCache(settings.token_cache_size)
        shared = infra.limiter if infra.redis_url else None
        self.limiter = ProductLimiter(settings.product_rate_limit, shared)
        # Per-credential limits (a policy's ``rateLimit``), one limiter per distinct limit.
        self._shared = shared
        self._policy_limiters: dict[str, ProductLimiter] = {}
        # Exposure checks cost a query: at most this many per source address (per process).
        self.exposure_limiter = ProductLimiter("60/minute")
        # The route table (upstreams.py): read and checked here, so a bad file stops the start.
        self.routes = load_routes(settings.routes_file)
        self.route_limiters = {
            r.index: ProductLimiter(r.limit, shared, namespace=f"route{r.index}")
            for r in self.routes.routes
            if r.limit is not None
        }
        self.forwarder = Forwarder(settings.upstream_timeout_seconds)
        self.usage = UsageRecorder(infra.sessionmaker)
        self.acting_writes = ActingWrites(infra.sessionmaker, infra.clock, infra.proxies)
        self.metrics = GatewayMetrics(self._gauges)
        self.access_log = settings.access_log
        self._templates: dict[int, str] = {}
        self._product_routes: list[tuple[re.Pattern[str], str]] = []
        self._flusher: asyncio.Task[None] | None = None

    def limiter_for(self, credential_id: str) -> ProductLimiter:
        """Check 12's limiter for a credential: its policy's own limit, else the global one.
        Redis keys name the limit, so a credential's own limit counts apart from the global."""
        policy = self.identity.view.policies.get(credential_id)
        text = None if policy is None else policy.rate_limit
        if text is None:
            return self.limiter
        limiter = self._policy_limiters.get(text)
        if limiter is None:
            if len(self._policy_limiters) >= 1024:
                self._policy_limiters.clear()  # bounded memory; Redis keeps shared counts
            limiter = self._policy_limiters[text] = ProductLimiter(text, self._shared)
        return limiter

    async def reset_limits(self) -> None:
        """Forget every product window, the policies' included (tests; an operator)."""
        self._policy_limiters.clear()
        await self.limiter.reset()

    # ---- request accounting (hot path: dict bumps only) ------------------------------------

    def template_of(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is None:
            return UNMATCHED
        template = self._templates.get(id(route))
        if template is None:
            template = getattr(route, "path_format", None) or UNMATCHED
        return template

    def _product_template(self, scope: Scope) -> str:
        """Template of a product route the guard refused before routing (denial path only)."""
        path = scope["path"]
        for regex, template in self._product_routes:
            if regex.match(path):
                return template
        return UNMATCHED

    def observe(self, scope: Scope, status: int, seconds: float) -> None:
        """Every answered request, from the pipeline's outermost layer (``kit.middleware``):
        metrics and the access log, by route template."""
        state = scope.get("state")
        template = state.get("route_template") if state else None
        if not isinstance(template, str):
            template = self.template_of(scope)
        self.metrics.observe(scope["method"], template, status, seconds)
        if self.access_log:
            access.write(scope, template, status, seconds)

    def passed(self, principal: Principal, denial: object, now: datetime) -> None:
        """A request that passed checks 1–10 (``denial`` is set when 11 or 12 refused it)."""
        if isinstance(denial, str):
            self.metrics.denial(denial)
            self.usage.count(principal, now, denial)
        else:
            self.usage.count(principal, now)
            self.usage.touch(principal.credential_id, now)

    def denied(
        self, scope: Scope, code: str, status: int, principal: Principal | None, now: datetime
    ) -> None:
        self.metrics.denial(code)
        state = scope.setdefault("state", {})
        state["route_template"] = self._product_template(scope)  # refused before routing
        if principal is not None:  # verified token: count the denial under its credential
            state["denied_principal"] = principal  # and log it (gateway.access)
            self.usage.count(principal, now, code)

    def decided(
        self,
        scope: Scope,
        path: str,
        status: int,
        code: str | None,
        principal: Principal | None,
        now: datetime,
    ) -> None:
        """A forward-auth decision or a proxied call (``path``: the endpoint or the route's
        prefix), counted like a guarded call: metrics (under ``path``, by ``observe``), and usage
        under a verified token."""
        state = scope.setdefault("state", {})
        state["route_template"] = path
        if principal is not None:
            state["denied_principal"] = principal  # the caller, for the access log
        if code is not None:
            self.metrics.denial(code)
        if principal is None:
            return
        self.usage.count(principal, now, code or "")
        if code is None:
            self.usage.touch(principal.credential_id, now)

    def _gauges(self) -> dict[str, tuple[str, float]]:
        view = self.identity.view
        return {
            "fluide_gateway_token_cache_entries": ("Verified tokens cached", len(self.cache)),
            "fluide_revoked_tokens": ("Revoked jtis in the in-memory view", len(view.revoked_jtis)),
            "fluide_usage_pending": ("Usage entries waiting to be flushed", self.usage.pending),
        }

    # ---- lifecycle --------------------------------------------------------------------------

    def refresh_routes(self, app: FastAPI) -> None:
        by_route, product = product_templates(app)
        self._templates = by_route
        self._product_routes = list(product)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.usage_flush_seconds)
            with contextlib.suppress(Exception):  # logged by the recorder; retried next time
                await self.usage.flush()
            self.metrics.refresh_gauges()  # with several workers: theirs, summed, at most this old

    async def start(self, app: FastAPI) -> None:
        assert_guarded(app)
        self.refresh_routes(app)
        self._flusher = asyncio.create_task(self._flush_loop(), name="fluide-usage-flush")

    async def stop(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        await self.forwarder.aclose()
        try:
            await self.usage.flush()
        except Exception as exc:
            log.error("final usage flush failed", extra={"error_type": type(exc).__name__})
        self.metrics.close()
