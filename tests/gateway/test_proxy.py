"""The built-in proxy: the real app on a socket in front of a real upstream on another; a
partner acting for a client company through it (DESIGN §3.7)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from fluide.app import App
from fluide.gateway.models import UsageHourly
from tests.conftest import Dev, bearer, exchange
from tests.gateway.forward_support import Upstream, free_socket, jwks_of, serving, verify_context
from tests.identity.partners.support import (
    acting,
    new_company,
    new_workspace,
    partner_with_companies,
)
from tests.products.helpers import headers_for

ROUTES = """
[[route]]
prefix = "/orders"
upstream = "http://127.0.0.1:{port}"
scopes = {{ GET = "books:read", "*" = "books:write" }}

[[route]]
prefix = "/admin"
upstream = "http://127.0.0.1:{port}"
scopes = {{ "*" = "hr:write" }}

[[route]]
prefix = "/down"
upstream = "http://127.0.0.1:{closed}"
scopes = {{ "*" = "books:read" }}
"""


@pytest.fixture
def upstream_socket() -> Iterator[socket.socket]:
    sock = free_socket()
    yield sock
    sock.close()


@pytest.fixture
def settings_overrides(tmp_path: Path, upstream_socket: socket.socket) -> dict[str, Any]:
    closed = free_socket()
    closed_port = closed.getsockname()[1]
    closed.close()  # nothing listens there
    path = tmp_path / "routes.toml"
    path.write_text(ROUTES.format(port=upstream_socket.getsockname()[1], closed=closed_port))
    return {"routes_file": path, "upstream_timeout_seconds": 1.0}


@pytest.fixture
async def upstream(upstream_socket: socket.socket) -> AsyncIterator[Upstream]:
    service = Upstream()
    async with serving(service, sock=upstream_socket):
        yield service


@pytest.fixture
async def http(runtime: App, upstream: Upstream) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        serving(runtime) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as c,
    ):
        yield c


async def auth(client: httpx.AsyncClient, dev: Dev, scope: str | None = None) -> dict[str, str]:
    if scope is None:
        return bearer((await exchange(client, dev))["accessToken"], dev)
    headers = {**dev.exchange_headers(), "X-Fluide-Scope": scope}
    resp = await client.post("/api/v1/authorize/token", headers=headers)
    return bearer(resp.json()["accessToken"], dev)


async def test_forwarded_with_identity_and_header_hygiene(
    client: httpx.AsyncClient, http: httpx.AsyncClient, upstream: Upstream, dev: Dev, runtime: App
) -> None:
    headers = {
        **await auth(client, dev),
        "X-Fluide-Tenant-Id": "forged",
        "X-Fluide-Context": "forged",
        "Connection": "x-hop",
        "X-Hop": "1",
        "Proxy-Authorization": "Basic eA==",
        "X-Request-Id": "proxy-rid-1",
        "X-App": "kept",
    }
    resp = await http.get("/orders/7?q=%2F1", headers=headers)
    assert resp.status_code == 200, resp.text
    seen = upstream.seen[-1]
    got = seen["headers"]
    assert (seen["method"], seen["path"], seen["query"]) == ("GET", "/orders/7", "q=%2F1")
    assert got["x-fluide-tenant-id"] == dev.tenant_id
    assert got["x-fluide-credential-id"] == dev.credential_id
    assert got["x-app"] == "kept" and got["x-forwarded-for"] == "127.0.0.1"
    for gone in (
        "authorization",
        "x-fluide-api-key",
        "x-fluide-client-id",
        "x-fluide-api-secret",
        "x-hop",
        "proxy-authorization",
    ):
        assert gone not in got, gone
    claims = verify_context(
        got["x-fluide-context"], await jwks_of(client), "/orders", runtime.infra.settings.issuer
    )
    assert claims["request_id"] == "proxy-rid-1" and claims["path"] == "/orders/7"
    # The upstream's hop-by-hop headers stay on its side too.
    assert resp.headers["x-kept"] == "1" and "x-secret-hop" not in resp.headers
    assert resp.headers["x-request-id"] == "proxy-rid-1"


async def test_denials_never_reach_the_upstream(
    client: httpx.AsyncClient, http: httpx.AsyncClient, upstream: Upstream, dev: Dev
) -> None:
    read_only = await auth(client, dev, scope="books:read")
    cases = [
        ("GET", "/orders/1", {}, 401, "AUTHORIZATION_MISSING"),
        ("POST", "/orders/1", read_only, 403, "INSUFFICIENT_SCOPE"),
        ("GET", "/admin/1", read_only, 403, "INSUFFICIENT_SCOPE"),
        (
            "GET",
            "/orders/1",
            {**read_only, "X-Fluide-Api-Secret": dev.api_secret},
            400,
            "API_SECRET_NOT_ALLOWED",
        ),
        ("GET", "/orders/%2e%2e/admin", read_only, 400, "VALIDATION_FAILED"),
        ("GET", "/orders//admin", read_only, 400, "VALIDATION_FAILED"),
        ("GET", "/orders/a%2F..%2F..%2Fadmin", read_only, 400, "VALIDATION_FAILED"),
        # A method no route table names is refused as the decision refuses it.
        ("TRACE", "/orders/1", read_only, 400, "VALIDATION_FAILED"),
    ]
    for method, path, headers, status, code in cases:
        resp = await http.request(method, path, headers=headers)
        assert resp.status_code == status, (path, resp.text)
        assert resp.json()["code"] == code
        assert dev.api_secret not in resp.text
    assert upstream.seen == []


async def test_upstream_down_is_502_and_slow_is_504(
    client: httpx.AsyncClient, http: httpx.AsyncClient, dev: Dev
) -> None:
    headers = await auth(client, dev)
    down = await http.get("/down/x", headers=headers)
    assert down.status_code == 502
    assert down.json()["code"] == "INTERNAL_ERROR" and down.json()["statusCode"] == 502
    slow = await http.get("/orders/slow", headers=headers)
    assert slow.status_code == 504
    assert slow.json()["code"] == "INTERNAL_ERROR" and slow.json()["statusCode"] == 504


async def test_large_bodies_both_ways(
    client: httpx.AsyncClient, http: httpx.AsyncClient, upstream: Upstream, dev: Dev, runtime: App
) -> None:
    headers = await auth(client, dev)
    body = os.urandom(runtime.infra.settings.max_body_bytes - 1024)
    resp = await http.post("/orders/upload", headers=headers, content=body)
    assert resp.status_code == 200
    assert resp.json()["sha256"] == hashlib.sha256(body).hexdigest()
    assert resp.json()["size"] == len(body)
    size = 20 * 1024 * 1024 + 17
    async with http.stream("GET", f"/orders/big?n={size}", headers=headers) as streamed:
        assert streamed.status_code == 200
        received = sum([len(chunk) async for chunk in streamed.aiter_raw()])
    assert received == size


async def test_bodies_stream_both_ways(
    client: httpx.AsyncClient, http: httpx.AsyncClient, upstream: Upstream, dev: Dev
) -> None:
    """Neither direction waits for the whole body: the upstream sees the first request chunk
    while the client still holds the rest, and the client reads the first response chunk while
    the upstream still holds the rest (a buffering proxy would deadlock both)."""
    headers = await auth(client, dev)

    async def chunks() -> AsyncIterator[bytes]:
        yield b"a" * 1000
        await asyncio.wait_for(upstream.first_chunk.wait(), 5)
        yield b"b" * 1000

    resp = await http.post("/orders/upload", headers=headers, content=chunks())
    assert resp.status_code == 200 and resp.json()["size"] == 2000
    async with http.stream("GET", "/orders/drip", headers=headers) as streamed:
        parts = streamed.aiter_raw()
        assert await asyncio.wait_for(parts.__anext__(), 5) == b"first"
        upstream.release.set()
        rest = b"".join([chunk async for chunk in parts])
    assert rest == b"second"


async def test_proxied_calls_count_as_usage(
    client: httpx.AsyncClient, http: httpx.AsyncClient, dev: Dev, runtime: App
) -> None:
    headers = await auth(client, dev, scope="books:read")
    await http.get("/orders/1", headers=headers)
    await http.post("/orders/1", headers=headers)
    counts = runtime.gateway.usage._counts
    by_code = {code: n for (_, cred, _, code), n in counts.items() if cred == dev.credential_id}
    assert by_code == {"": 1, "INSUFFICIENT_SCOPE": 1}


async def test_body_over_the_limit_is_413_declared_or_streamed(
    client: httpx.AsyncClient, http: httpx.AsyncClient, dev: Dev, runtime: App
) -> None:
    headers = await auth(client, dev)
    limit = runtime.infra.settings.max_body_bytes
    declared = await http.post("/orders/upload", headers=headers, content=b"x" * (limit + 1))
    assert declared.status_code == 413

    async def endless() -> AsyncIterator[bytes]:
        for _ in range(limit // 65536 + 2):
            yield b"y" * 65536

    streamed = await http.post("/orders/upload", headers=headers, content=endless())
    assert streamed.status_code == 413
    assert streamed.json()["code"] == "PAYLOAD_TOO_LARGE"


# ---- act-as through the built-in proxy (DESIGN §3.7) -------------------------------------------


async def test_act_as_through_the_proxy_forwards_only_what_the_guard_checked(
    client: httpx.AsyncClient, http: httpx.AsyncClient, upstream: Upstream, runtime: App, dev: Dev
) -> None:
    partner, own, wid, (a, b) = await partner_with_companies(client, runtime)
    _, _, owid, (oa, _) = await partner_with_companies(client, runtime)
    other_wid = await new_workspace(client, own, "Other")
    in_other = await new_company(client, own, other_wid)
    suspended = await new_company(client, own, wid, status="SUSPENDED")
    narrow = await headers_for(client, partner, scope="books:read books:write")
    business = await auth(client, dev)
    forged = {"X-Fluide-Workspace-Id": owid, "X-Fluide-Company-Id": oa}

    ok = await http.post("/orders/1", headers={**acting(own, wid, a), **forged})
    assert ok.status_code == 200, ok.text
    got = upstream.seen[-1]["headers"]
    assert (got["x-fluide-workspace-id"], got["x-fluide-company-id"]) == (wid, a)
    assert "x-workspace-id" not in got and "x-acting-company-id" not in got
    plain = await http.get("/orders/1", headers={**own, **forged})  # forged, not acting
    assert plain.status_code == 200
    assert "x-fluide-company-id" not in upstream.seen[-1]["headers"]
    assert oa not in str(upstream.seen[-1]["headers"])

    forwarded = len(upstream.seen)
    # Acting × {token without the scope, business tenant, full} × every company that is not an
    # active one of that workspace: refused before any byte goes upstream.
    refusals = [
        (acting(narrow, wid, a), 403, "INSUFFICIENT_SCOPE"),
        (acting(business, wid, a), 403, "INSUFFICIENT_SCOPE"),
        (acting(own, owid, oa), 404, "WORKSPACE_NOT_FOUND"),
        (acting(own, owid, a), 404, "WORKSPACE_NOT_FOUND"),
        (acting(own, wid, oa), 404, "COMPANY_NOT_FOUND"),
        (acting(own, wid, in_other), 404, "COMPANY_NOT_FOUND"),
        (acting(own, other_wid, b), 404, "COMPANY_NOT_FOUND"),
        (acting(own, wid, suspended), 404, "COMPANY_NOT_FOUND"),
        (acting(own, "wsp_nope", "cmp_nope"), 404, "WORKSPACE_NOT_FOUND"),
        ({**own, "X-Workspace-Id": wid}, 400, "VALIDATION_FAILED"),
        ({**own, "X-Acting-Company-Id": a}, 400, "VALIDATION_FAILED"),
    ]
    for headers, status, code in refusals:
        for method in ("GET", "POST", "DELETE"):
            resp = await http.request(method, "/orders/1", headers=headers)
            assert (resp.status_code, resp.json()["code"]) == (status, code), (method, resp.text)
            assert owid not in resp.text and oa not in resp.text
    assert len(upstream.seen) == forwarded  # none of them reached the upstream

    # Counted under the company it acted for; every refusal as the caller's own.
    await runtime.gateway.usage.flush()
    async with runtime.infra.sessionmaker() as session:
        rows = await session.execute(
            select(UsageHourly.company_id, UsageHourly.code, UsageHourly.count).where(
                UsageHourly.credential_id == partner.credential_id, UsageHourly.kind == "request"
            )
        )
        companies = {(c, code) for c, code, _ in rows}
    assert (a, "") in companies and {c for c, _ in companies} <= {"", a}
