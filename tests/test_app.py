"""The app's exchange lane: the exchange skips FastAPI's layers but not the service's own."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import Response
from fastapi.routing import APIRoute

from fluide.app import App
from fluide.dashboard.web import COOKIE_CHALLENGE
from fluide.gateway.routes import EXCHANGE_PATHS
from fluide.gateway.routes import walk as walk_routes
from fluide.identity import formats
from fluide.identity.audit import Actor
from fluide.identity.errors import EXCHANGE_CHALLENGE
from fluide.identity.exchange.lane import ExchangeFastPath
from fluide.identity.models import Credential
from tests.apidocs.kinds import Kind, classify
from tests.conftest import CLIENT_ID, Dev, bearer, create_dev, exchange

TOKEN = "/api/v1/authorize/token"


def test_one_pipeline_with_the_exchange_lane_at_its_edge(app: App) -> None:
    layer: Any = app.pipeline
    names = []
    while layer is not app.fastapi:
        names.append(type(layer).__name__)
        edge, layer = layer, getattr(layer, "app", None)
    # One stack (outermost first), FastAPI innermost with no middleware of its own; the
    # exchange leaves it at the edge, after the same request-id and input-limit layers.
    assert names == ["RequestIdMiddleware", "SafeRetry", "LimitsMiddleware", "GatewayMiddleware"]
    assert app.fastapi.user_middleware == []
    assert isinstance(edge.exchange, ExchangeFastPath)


async def test_the_exchange_gets_a_request_id_and_input_limits(
    client: httpx.AsyncClient, dev: Dev
) -> None:
    ok = await client.post(TOKEN, headers={**dev.exchange_headers(), "X-Request-Id": "req-7"})
    assert ok.status_code == 200, ok.text
    assert ok.headers["x-request-id"] == "req-7"
    assert ok.headers["cache-control"] == "no-store"
    assert ok.headers["content-type"] == "application/json"
    assert int(ok.headers["content-length"]) == len(ok.content)

    big = await client.post(TOKEN, headers=dev.exchange_headers(), content=b"{" + b" " * 2_000_000)
    assert big.status_code == 413
    assert big.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert big.json()["requestId"] == big.headers["x-request-id"]

    bad = await client.post(
        TOKEN, headers={**dev.exchange_headers(), "X-Fluide-Scope": "hr:read\x01"}
    )
    assert bad.status_code == 400
    assert bad.json()["errors"] == {"X-Fluide-Scope": ["must be printable ASCII"]}


async def test_an_unexpected_failure_is_the_500_envelope(
    client: httpx.AsyncClient, dev: Dev, runtime: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom with a secret-looking fl_sk_value")

    monkeypatch.setattr(runtime.identity.exchange, "exchange", broken)
    resp = await client.post(TOKEN, headers=dev.exchange_headers())
    assert resp.status_code == 500
    body = resp.json()
    assert body["code"] == "INTERNAL_ERROR"
    assert body["requestId"] == resp.headers["x-request-id"]
    assert "fl_sk_" not in resp.text


class TestMetrics:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"metrics_public": True}

    async def test_exchanges_are_counted_under_their_route(
        self, client: httpx.AsyncClient, dev: Dev
    ) -> None:
        assert (await client.post(TOKEN, headers=dev.exchange_headers())).status_code == 200
        wrong = dev.exchange_headers(secret="fl_sk_wrong")
        assert (await client.post(TOKEN, headers=wrong)).status_code == 401
        text = (await client.get("/metrics")).text
        for status in (200, 401):
            line = (
                f'fluide_http_requests_total{{method="POST",route="{TOKEN}",status="{status}"}} 1.0'
            )
            assert line in text


# ---- every 401 carries WWW-Authenticate (DESIGN §3.1), walked over every route of the app ----

CHALLENGES = {
    "AUTHORIZATION_MISSING": "Bearer",
    "AUTHORIZATION_MALFORMED": 'Bearer error="invalid_request"',
    "MISSING_API_KEY": 'Bearer error="invalid_request"',
    "MISSING_CLIENT_ID": 'Bearer error="invalid_request"',
    "TOKEN_INVALID": 'Bearer error="invalid_token"',
    "TOKEN_EXPIRED": 'Bearer error="invalid_token"',
    "TOKEN_REVOKED": 'Bearer error="invalid_token"',
    "CLIENT_AUDIENCE_MISMATCH": 'Bearer error="invalid_token"',
    "API_KEY_MISMATCH": 'Bearer error="invalid_token"',
    "CREDENTIAL_REVOKED": 'Bearer error="invalid_token"',
    "SESSION_REQUIRED": 'Bearer realm="fluide-account"',
    "INVALID_CREDENTIALS": 'FluidePassword realm="fluide-account"',
    "UNAUTHORIZED": "Bearer",  # /metrics with a wrong token
    "<html>": COOKIE_CHALLENGE,  # a dashboard page whose session ended
}


def _code(resp: httpx.Response) -> str:
    if resp.headers.get("content-type", "").startswith("text/html"):
        return "<html>"
    return str(resp.json()["code"]) if resp.content else "<empty>"


@dataclass
class Walk:
    """Every 401 seen: (method, path, code), checked as it arrives."""

    seen: list[tuple[str, str, str]] = field(default_factory=list)

    def check(
        self,
        method: str,
        path: str,
        resp: httpx.Response,
        exchange: bool,
        expected: str | None = None,
    ) -> None:
        if resp.status_code != 401:
            return
        assert "www-authenticate" in resp.headers, (method, path, resp.text)
        code = "<empty>" if method == "HEAD" else _code(resp)
        expected = expected or (EXCHANGE_CHALLENGE if exchange else CHALLENGES.get(code))
        if method != "HEAD":
            assert resp.headers["www-authenticate"] == expected, (method, path, code)
        self.seen.append((method, path, code))


async def _bad_credentials(client: httpx.AsyncClient, runtime: App, dev: Dev) -> list[Any]:
    """Header sets that each fail one check (2-10) or the account session."""
    token = (await exchange(client, dev))["accessToken"]
    revoked_jti = (await exchange(client, dev))["accessToken"]
    assert (await client.post("/api/v1/authorize/revoke", headers=bearer(revoked_jti))).is_success
    other = await create_dev(runtime)
    gone = await create_dev(runtime)
    gone_token = (await exchange(client, gone))["accessToken"]
    async with runtime.infra.sessionmaker() as session, session.begin():
        cred = await session.get(Credential, gone.credential_id)
        assert cred is not None
        await runtime.identity.credentials.revoke(session, Actor("system", None, None, None), cred)
    await runtime.identity.feed.changed()
    fake = SimpleNamespace(id=dev.credential_id, tenant_id=dev.tenant_id, api_key=dev.api_key)
    expired = runtime.identity.tokens.mint(
        fake, client_id=CLIENT_ID, scope="hr:read", generation=1, ttl=-600
    )[0].access_token
    return [
        {},
        {"Authorization": "Basic YTpi"},
        {"Authorization": "Bearer a.b.c", "X-Fluide-Api-Key": dev.api_key},
        {**bearer("a.b.c", dev)},
        {"Authorization": f"Bearer {token}"},
        {"Authorization": f"Bearer {token}", "X-Fluide-Api-Key": dev.api_key},
        bearer(token, dev, client_id="fluide-admin"),
        bearer(token, other),
        bearer(revoked_jti, dev),
        bearer(gone_token, gone),
        bearer(expired, dev),
        {"Authorization": "Bearer fl_ses_not_a_session"},
        {"Cookie": "fluide_session=fl_ses_not_a_session"},
    ]


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", path)


async def test_every_401_of_every_route_carries_www_authenticate(
    app: App, client: httpx.AsyncClient, runtime: App, dev: Dev
) -> None:
    walk = Walk()
    variants = await _bad_credentials(client, runtime, dev)
    routes = [i for i in walk_routes(app.fastapi.routes) if isinstance(i.route, APIRoute)]
    for info in routes:
        path = _concrete(info.path)
        is_exchange = info.path in EXCHANGE_PATHS
        for method in sorted(info.methods):
            for headers in [] if is_exchange else variants:
                resp = await client.request(method, path, headers=headers)
                walk.check(method, path, resp, exchange=False)
    # The dashboard's forms past their CSRF check, without a session.
    page = await client.get("/connect/signin")
    form = {"csrf_token": re.findall(r'name="csrf_token" value="([0-9a-f]+)"', page.text)[0]}
    for info in routes:
        if info.path.startswith("/connect") and "POST" in info.methods:
            resp = await client.post(_concrete(info.path), data=form)
            walk.check("POST", info.path, resp, exchange=False)
    # Sign-in with a wrong password, as JSON and as the dashboard's form.
    wrong = {"email": "nobody@example.com", "password": "wrong password 123"}
    walk.check("POST", "signin", await client.post("/api/v1/auth/signin", json=wrong), False)
    resp = await client.post("/connect/signin", data={**wrong, **form})
    assert resp.status_code == 401
    walk.check("POST", "/connect/signin", resp, False, CHALLENGES["INVALID_CREDENTIALS"])

    codes = {code for _, _, code in walk.seen}
    assert codes >= set(CHALLENGES) - {"UNAUTHORIZED"}, set(CHALLENGES) - codes
    # Not vacuous: every Bearer- or session-protected route answered 401s.
    protected = {
        _concrete(i.path)
        for i in routes
        if classify(i.path) in (Kind.PRODUCT, Kind.DEVELOPER, Kind.ACCOUNT)
        or i.path.startswith("/api/v1/developer-access/")
    } - EXCHANGE_PATHS
    assert len(protected) >= 35
    assert protected <= {p for _, p, _ in walk.seen}, protected - {p for _, p, _ in walk.seen}
    assert len(walk.seen) > 500


async def _exchange_401s(client: httpx.AsyncClient, runtime: App, dev: Dev, base: str) -> Walk:
    walk = Walk()
    gone = await create_dev(runtime)
    async with runtime.infra.sessionmaker() as session, session.begin():
        cred = await session.get(Credential, gone.credential_id)
        assert cred is not None
        await runtime.identity.credentials.revoke(session, Actor("system", None, None, None), cred)
    await runtime.identity.feed.changed()
    cases = [
        dev.exchange_headers(secret=formats.new_api_secret()),
        dev.exchange_headers(secret="fl_sk_decoy"),  # the old decoy (issue 14, finding 1)
        {**dev.exchange_headers(), "X-Fluide-Api-Key": formats.new_api_key()},
        {**dev.exchange_headers(), "X-Fluide-Api-Key": "fl_dev_short"},
        {**dev.exchange_headers(), "X-Fluide-Client-Id": "fluide-admin"},
        gone.exchange_headers(),
    ]
    for path in sorted(EXCHANGE_PATHS):
        for headers in cases:
            resp = await client.post(base + path, headers=headers)
            assert resp.status_code == 401, resp.text
            walk.check("POST", path, resp, exchange=True)
    assert {c for _, _, c in walk.seen} >= {
        "DEVELOPER_KEYS_INVALID",
        "CLIENT_ID_INVALID",
        "CREDENTIAL_REVOKED",
    }
    return walk


async def test_every_401_of_the_exchange_fast_path_names_the_fluide_headers(
    client: httpx.AsyncClient, runtime: App, dev: Dev
) -> None:
    await _exchange_401s(client, runtime, dev, "")


async def test_every_401_of_the_exchange_route_names_the_fluide_headers(
    app: App, runtime: App, dev: Dev
) -> None:
    # Under a root_path the documented route serves the exchange, not ExchangeFastPath.
    transport = httpx.ASGITransport(app=app, root_path="/base")
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        ok = await c.post("/base/api/v1/authorize/token", headers=dev.exchange_headers())
        assert ok.status_code == 200, ok.text
        await _exchange_401s(c, runtime, dev, "/base")


class TestMetricsChallenge:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"metrics_token": "scrape-token-123"}

    async def test_a_wrong_scrape_token_is_a_401_with_a_challenge(
        self, client: httpx.AsyncClient
    ) -> None:
        resp = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert resp.status_code == 401 and resp.headers["www-authenticate"] == "Bearer"


async def test_a_bare_401_gets_a_default_challenge(app: App, client: httpx.AsyncClient) -> None:
    # A 401 built outside the error classes (a plain response) still carries one.
    @app.fastapi.get("/bare-401")
    async def bare() -> Response:
        return Response(status_code=401)

    resp = await client.get("/bare-401")
    assert resp.status_code == 401 and resp.headers["www-authenticate"] == "Bearer"

    @app.fastapi.get("/own-401")
    async def own() -> Response:
        return Response(status_code=401, headers={"WWW-Authenticate": 'Basic realm="x"'})

    resp = await client.get("/own-401")
    assert resp.headers.get_list("www-authenticate") == ['Basic realm="x"']
