"""``/api/v1/gateway/decide``: the guard's decision for nginx, Traefik and Envoy (DESIGN §3.9),
through the real app over ASGI on real SQLite (and PostgreSQL when configured)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from fluide.app import App
from fluide.gateway.decide import DECIDE_PATH, DENIED_PATH
from tests.conftest import Dev, bearer, exchange
from tests.gateway.forward_support import jwks_of, verify_context, write_routes
from tests.identity.oauth.support import DpopKey, bound_token


@pytest.fixture
def settings_overrides(tmp_path: Path) -> dict[str, Any]:
    return {"routes_file": write_routes(tmp_path)}


def nginx(method: str, uri: str) -> dict[str, str]:
    return {"X-Original-Method": method, "X-Original-URI": uri}


def traefik(method: str, uri: str) -> dict[str, str]:
    return {"X-Forwarded-Method": method, "X-Forwarded-Uri": uri}


async def token_headers(client: httpx.AsyncClient, dev: Dev, scope: str | None = None) -> Any:
    if scope is None:
        body = await exchange(client, dev)
    else:
        resp = await client.post(
            "/api/v1/authorize/token", headers={**dev.exchange_headers(), "X-Fluide-Scope": scope}
        )
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["scope"] == scope
    return bearer(body["accessToken"], dev)


async def test_nginx_decision_carries_identity_and_a_verifiable_context(
    client: httpx.AsyncClient, dev: Dev, runtime: App
) -> None:
    headers = await token_headers(client, dev)
    resp = await client.get(
        DECIDE_PATH,
        headers={**headers, **nginx("GET", "/orders/42?x=1"), "X-Request-Id": "rid-decide-1"},
    )
    assert resp.status_code == 200, resp.text
    assert resp.content == b""
    assert resp.headers["x-fluide-tenant-id"] == dev.tenant_id
    assert resp.headers["x-fluide-credential-id"] == dev.credential_id
    assert "books:read" in resp.headers["x-fluide-scopes"].split()
    assert resp.headers["x-request-id"] == "rid-decide-1"
    claims = verify_context(
        resp.headers["x-fluide-context"],
        await jwks_of(client),
        audience="/orders",
        issuer=runtime.infra.settings.issuer,
    )
    assert claims["tenant_id"] == dev.tenant_id and claims["sub"] == dev.credential_id
    assert (claims["method"], claims["path"]) == ("GET", "/orders/42")
    assert claims["request_id"] == "rid-decide-1"
    assert claims["exp"] - claims["iat"] == runtime.infra.settings.context_ttl_seconds


async def test_traefik_and_envoy_forms(client: httpx.AsyncClient, dev: Dev) -> None:
    headers = await token_headers(client, dev)
    resp = await client.post(DECIDE_PATH, headers={**headers, **traefik("PUT", "/orders/1")})
    assert resp.status_code == 200, resp.text
    # Envoy ext_authz with path_prefix: the original method and path are the request's.
    resp = await client.request("DELETE", DECIDE_PATH + "/orders/1", headers=headers)
    assert resp.status_code == 200, resp.text
    resp = await client.get(DECIDE_PATH + "/admin/x", headers=headers)
    assert resp.status_code == 200
    aud = jwt.decode(resp.headers["x-fluide-context"], options={"verify_signature": False})["aud"]
    assert aud == "admin-service"


async def test_context_is_never_an_access_token(client: httpx.AsyncClient, dev: Dev) -> None:
    headers = await token_headers(client, dev)
    resp = await client.get(DECIDE_PATH, headers={**headers, **nginx("GET", "/orders")})
    context = resp.headers["x-fluide-context"]
    forged = {**headers, "Authorization": f"Bearer {context}"}
    product = await client.get("/api/v1/hr/health", headers=forged)
    assert product.status_code == 401 and product.json()["code"] == "TOKEN_INVALID"
    again = await client.get(DECIDE_PATH, headers={**forged, **nginx("GET", "/orders")})
    assert again.status_code == 401 and again.json()["code"] == "TOKEN_INVALID"


@pytest.mark.parametrize(
    ("mutate", "status", "code"),
    [
        (lambda h: h.pop("Authorization"), 401, "AUTHORIZATION_MISSING"),
        (lambda h: h.update(Authorization="Basic abc"), 401, "AUTHORIZATION_MALFORMED"),
        (lambda h: h.pop("X-Fluide-Api-Key"), 401, "MISSING_API_KEY"),
        (lambda h: h.pop("X-Fluide-Client-Id"), 401, "MISSING_CLIENT_ID"),
        (lambda h: h.update(Authorization=h["Authorization"][:-3] + "abc"), 401, "TOKEN_INVALID"),
        (lambda h: h.update({"X-Fluide-Client-Id": "other"}), 401, "CLIENT_AUDIENCE_MISMATCH"),
    ],
)
async def test_guard_failures_answer_the_guard_envelope(
    client: httpx.AsyncClient, dev: Dev, mutate: Any, status: int, code: str
) -> None:
    headers = await token_headers(client, dev)
    mutate(headers)
    resp = await client.get(DECIDE_PATH, headers={**headers, **nginx("GET", "/orders/1")})
    assert resp.status_code == status
    body = resp.json()
    assert body["code"] == code and body["success"] is False
    assert resp.headers["www-authenticate"].startswith("Bearer")
    assert resp.headers["x-fluide-error-code"] == code
    assert "x-fluide-context" not in resp.headers and "x-fluide-tenant-id" not in resp.headers


async def test_api_key_of_another_credential(
    client: httpx.AsyncClient, dev: Dev, runtime: App
) -> None:
    from tests.conftest import create_dev

    other = await create_dev(runtime)
    headers = {**await token_headers(client, dev), "X-Fluide-Api-Key": other.api_key}
    resp = await client.get(DECIDE_PATH, headers={**headers, **nginx("GET", "/orders")})
    assert resp.status_code == 401 and resp.json()["code"] == "API_KEY_MISMATCH"


async def test_secret_header_is_check_one(client: httpx.AsyncClient, dev: Dev) -> None:
    headers = {**await token_headers(client, dev), "X-Fluide-Api-Secret": dev.api_secret}
    resp = await client.get(DECIDE_PATH, headers={**headers, **nginx("GET", "/orders")})
    assert resp.status_code == 400 and resp.json()["code"] == "API_SECRET_NOT_ALLOWED"
    assert dev.api_secret not in resp.text
    # Flagged as exposed, like on a product route.
    headers.pop("X-Fluide-Api-Secret")
    current = await client.get("/api/v1/authorize/current", headers=headers)
    assert current.status_code == 200, current.text
    assert current.json()["secretExposedAt"] is not None


async def test_scope_of_one_route_does_not_open_another(
    client: httpx.AsyncClient, dev: Dev
) -> None:
    headers = await token_headers(client, dev, scope="books:read")
    ok = await client.get(DECIDE_PATH, headers={**headers, **nginx("GET", "/orders/1")})
    assert ok.status_code == 200
    assert ok.headers["x-fluide-scopes"] == "books:read"
    for method, uri, scope in [("POST", "/orders/1", "books:write"), ("GET", "/admin", "hr:write")]:
        resp = await client.get(DECIDE_PATH, headers={**headers, **nginx(method, uri)})
        assert resp.status_code == 403, (method, uri)
        assert resp.json()["code"] == "INSUFFICIENT_SCOPE"
        assert resp.headers["x-fluide-error-scope"] == scope
    # The embedded products are routes of the same table.
    resp = await client.get(DECIDE_PATH, headers={**headers, **nginx("GET", "/api/v1/hr/x")})
    assert resp.status_code == 403 and resp.headers["x-fluide-error-scope"] == "hr:read"


async def test_method_the_route_does_not_serve(client: httpx.AsyncClient, dev: Dev) -> None:
    headers = await token_headers(client, dev)
    resp = await client.get(DECIDE_PATH, headers={**headers, **nginx("POST", "/limited")})
    assert resp.status_code == 405 and resp.json()["code"] == "METHOD_NOT_ALLOWED"


async def test_route_limit_counts_decisions(client: httpx.AsyncClient, dev: Dev) -> None:
    headers = await token_headers(client, dev)
    codes = []
    for _ in range(3):
        resp = await client.get(DECIDE_PATH, headers={**headers, **nginx("GET", "/limited/a")})
        codes.append(resp.status_code)
    assert codes == [200, 200, 429]
    assert int(resp.headers["retry-after"]) >= 1
    assert resp.json()["code"] == "RATE_LIMITED"
    # Another route's budget is its own.
    resp = await client.get(DECIDE_PATH, headers={**headers, **nginx("GET", "/orders")})
    assert resp.status_code == 200


@pytest.mark.parametrize(
    "uri",
    [
        "/orders/../admin",
        "/orders/%2e%2e/admin",
        "/orders/%2E%2E/admin",
        "/orders/..%2fadmin",
        "/orders%2f..%2fadmin",
        "/orders//admin",
        "//orders/x",
        "/orders/./x",
        "/orders/..;/admin",
        "/orders/%252e%252e/admin",
        "/orders\\..\\admin",
        "/orders/%00",
        "/orders/%zz",
        "orders/x",
        "http://evil/orders",
        "/orders/a b",
        "/orders/%c3",
    ],
)
async def test_ambiguous_paths_are_refused_not_normalised(
    client: httpx.AsyncClient, dev: Dev, uri: str
) -> None:
    headers = await token_headers(client, dev, scope="hr:write")
    resp = await client.get(DECIDE_PATH, headers={**headers, **nginx("GET", uri)})
    assert resp.status_code == 400, (uri, resp.text)
    assert resp.json()["code"] == "VALIDATION_FAILED"


async def test_envoy_form_refuses_encoded_traversal(client: httpx.AsyncClient, dev: Dev) -> None:
    headers = await token_headers(client, dev)
    for path in ["/orders/%2e%2e/admin", "/orders/%2f/x", "/orders//x"]:
        resp = await client.get(DECIDE_PATH + path, headers=headers)
        assert resp.status_code == 400, path


@pytest.mark.parametrize(
    "extra",
    [
        {},  # nothing says what the original request was
        {"X-Original-Method": "GET"},
        {"X-Forwarded-Uri": "/orders"},
        {**nginx("GET", "/orders"), **traefik("GET", "/admin")},
        {"X-Original-Method": "get", "X-Original-URI": "/orders"},
        {"X-Original-Method": "TRACE", "X-Original-URI": "/orders"},
    ],
)
async def test_unclear_original_request(
    client: httpx.AsyncClient, dev: Dev, extra: dict[str, str]
) -> None:
    headers = await token_headers(client, dev)
    resp = await client.get(DECIDE_PATH, headers={**headers, **extra})
    assert resp.status_code == 400 and resp.json()["code"] == "VALIDATION_FAILED"


async def test_repeated_and_mixed_headers(client: httpx.AsyncClient, dev: Dev) -> None:
    headers = list((await token_headers(client, dev)).items())
    twice = [
        *headers,
        ("X-Original-Method", "GET"),
        ("X-Original-URI", "/orders"),
        ("X-Original-URI", "/admin"),
    ]
    resp = await client.get(DECIDE_PATH, headers=twice)
    assert resp.status_code == 400
    envoy_and_header = [*headers, ("X-Original-URI", "/orders"), ("X-Original-Method", "GET")]
    resp = await client.get(DECIDE_PATH + "/admin", headers=envoy_and_header)
    assert resp.status_code == 400


async def test_unknown_route_is_refused(client: httpx.AsyncClient, dev: Dev) -> None:
    headers = await token_headers(client, dev)
    for uri in ["/ordersx", "/", "/other/orders", "/Orders"]:
        resp = await client.get(DECIDE_PATH, headers={**headers, **nginx("GET", uri)})
        assert resp.status_code == 404, uri
        assert resp.json()["code"] == "NOT_FOUND"


async def test_huge_headers_are_refused_before_the_guard(
    client: httpx.AsyncClient, dev: Dev
) -> None:
    headers = await token_headers(client, dev)
    resp = await client.get(
        DECIDE_PATH, headers={**headers, **nginx("GET", "/orders/" + "a" * 20000)}
    )
    assert resp.status_code in (400, 413, 431)
    assert "x-fluide-context" not in resp.headers


async def test_decisions_count_in_usage_and_metrics(
    client: httpx.AsyncClient, dev: Dev, runtime: App
) -> None:
    headers = await token_headers(client, dev, scope="books:read")
    await client.get(DECIDE_PATH, headers={**headers, **nginx("GET", "/orders")})
    await client.get(DECIDE_PATH, headers={**headers, **nginx("GET", "/admin")})
    counts = dict(runtime.gateway.usage._counts)
    by_code = {code: n for (_, cred, _, code), n in counts.items() if cred == dev.credential_id}
    assert by_code == {"": 1, "INSUFFICIENT_SCOPE": 1}
    text = runtime.gateway.metrics.render().decode()
    assert DECIDE_PATH in text and "INSUFFICIENT_SCOPE" in text


async def test_revocation_applies_to_decisions(client: httpx.AsyncClient, dev: Dev) -> None:
    headers = await token_headers(client, dev)
    assert (
        await client.get(DECIDE_PATH, headers={**headers, **nginx("GET", "/orders")})
    ).status_code == 200
    assert (await client.post("/api/v1/authorize/revoke", headers=headers)).status_code in (
        200,
        204,
    )
    for _ in range(50):
        resp = await client.get(DECIDE_PATH, headers={**headers, **nginx("GET", "/orders")})
        if resp.status_code == 401:
            break
        await asyncio.sleep(0.05)
    assert resp.json()["code"] == "TOKEN_REVOKED"


@pytest.mark.parametrize(
    ("code", "extra", "status"),
    [
        ("TOKEN_EXPIRED", {}, 401),
        ("AUTHORIZATION_MISSING", {}, 401),
        ("INSUFFICIENT_SCOPE", {"X-Fluide-Error-Scope": "hr:read"}, 403),
        ("RATE_LIMITED", {"Retry-After": "7"}, 429),
        ("VALIDATION_FAILED", {}, 400),
        ("API_SECRET_NOT_ALLOWED", {}, 400),
        ("SOMETHING_ELSE", {}, 500),
        (None, {}, 500),
    ],
)
async def test_denial_page_renders_what_the_decision_said(
    client: httpx.AsyncClient, code: str | None, extra: dict[str, str], status: int
) -> None:
    headers = {**extra, **({"X-Fluide-Error-Code": code} if code else {})}
    resp = await client.get(DENIED_PATH, headers=headers)
    assert resp.status_code == status
    body = resp.json()
    assert body["code"] == (code if status != 500 else "INTERNAL_ERROR")
    if status == 401:
        assert resp.headers["www-authenticate"].startswith("Bearer")
    if code == "INSUFFICIENT_SCOPE":
        assert "hr:read" in body["message"]
    if code == "RATE_LIMITED":
        assert resp.headers["retry-after"] == "7"


async def test_denial_page_does_not_echo_a_forged_scope(client: httpx.AsyncClient) -> None:
    resp = await client.get(
        DENIED_PATH,
        headers={"X-Fluide-Error-Code": "INSUFFICIENT_SCOPE", "X-Fluide-Error-Scope": "<b>x"},
    )
    assert resp.status_code == 500 and "<b>" not in resp.text


@pytest.mark.parametrize(
    ("code", "variant", "challenge", "dpop_message"),
    [
        ("TOKEN_INVALID", "dpop", 'DPoP error="invalid_token"', True),
        ("TOKEN_INVALID", None, 'Bearer error="invalid_token"', False),
        # The variant means something for TOKEN_INVALID only, and only its one value.
        ("TOKEN_INVALID", "DPoP", 'Bearer error="invalid_token"', False),
        ("TOKEN_INVALID", "dpop\x7f", 'Bearer error="invalid_token"', False),
        ("TOKEN_EXPIRED", "dpop", 'Bearer error="invalid_token"', False),
    ],
)
async def test_denial_page_tells_a_dpop_bound_tokens_refusal_apart(
    client: httpx.AsyncClient,
    code: str,
    variant: str | None,
    challenge: str,
    dpop_message: bool,
) -> None:
    """``X-Fluide-Error-Variant: dpop`` (what decide adds for a DPoP-bound token) gives the
    page the decision's own message and DPoP challenge; anything else changes nothing."""
    headers = {"X-Fluide-Error-Code": code}
    if variant is not None:
        headers["X-Fluide-Error-Variant"] = variant
    resp = await client.get(DENIED_PATH, headers=headers)
    if resp.status_code == 400:  # a control byte in a header: refused at the edge
        assert variant is not None and not variant.isprintable()
        return
    assert (resp.status_code, resp.json()["code"]) == (401, code)
    assert resp.headers["www-authenticate"].startswith(challenge)
    assert ("does not accept DPoP-bound tokens" in resp.json()["message"]) is dpop_message


async def test_a_decision_refusing_a_dpop_bound_token_says_so_for_nginx(
    client: httpx.AsyncClient, runtime: App, dev: Dev
) -> None:
    """decide checks no proof: a bound token is refused (TOKEN_INVALID, DPoP challenge), with
    the variant header nginx hands to the denial page; a Bearer token's refusal has none."""
    token = await bound_token(client, runtime, dev, DpopKey())
    original = {"X-Original-Method": "GET", "X-Original-URI": "/api/v1/hr/health"}
    resp = await client.get(DECIDE_PATH, headers={**bearer(token, dev), **original})
    assert (resp.status_code, resp.json()["code"]) == (401, "TOKEN_INVALID")
    assert resp.headers["x-fluide-error-variant"] == "dpop"
    assert resp.headers["www-authenticate"].startswith("DPoP")
    plain = {**bearer("a.b.c", dev), **original}
    resp = await client.get(DECIDE_PATH, headers=plain)
    assert resp.json()["code"] == "TOKEN_INVALID"
    assert "x-fluide-error-variant" not in resp.headers
