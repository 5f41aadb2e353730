"""End to end with the real nginx (Debian package) running deploy/nginx/nginx.conf: auth_request
asks the real app (uvicorn on a socket) for decisions in front of a small upstream.

Skipped with the reason when nginx is not installed, unless ``CI`` is set: then it fails, as the
conftest's ``unreachable`` does for a configured database, so CI never turns it into a skip.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fluide.app import App
from fluide.gateway.limiter import ProductLimiter
from tests.conftest import Dev, bearer, exchange
from tests.gateway.forward_support import Upstream, free_socket, serving, write_routes
from tests.identity.oauth.support import DpopKey, bound_token, dpop_headers

RECIPE = Path(__file__).parents[2] / "deploy" / "nginx" / "nginx.conf"


def nginx_binary() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None
    )
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(
                "CI is set but nginx is not installed (apt-get install nginx)", pytrace=False
            )
        pytest.skip("the nginx end-to-end test needs nginx (apt-get install nginx; CI has it)")
    return found


@pytest.fixture
def settings_overrides(tmp_path: Path) -> dict[str, Any]:
    return {"routes_file": write_routes(tmp_path), "product_rate_limit": "100000/minute"}


def nginx_config(prefix: Path, fluide: int, upstream: int, listen: int) -> str:
    """The recipe as shipped, with this test's ports, and its files under ``prefix``."""
    text = RECIPE.read_text()
    for old, new in [
        ("127.0.0.1:8000", f"127.0.0.1:{fluide}"),
        ("127.0.0.1:9000", f"127.0.0.1:{upstream}"),
        ("listen 8080;", f"listen 127.0.0.1:{listen};"),
        ("worker_processes auto;", f"worker_processes 1;\npid {prefix}/nginx.pid;"),
    ]:
        assert old in text, old
        text = text.replace(old, new)
    temp = "\n".join(
        f"    {name}_temp_path {prefix}/{name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return text.replace("http {", f"http {{\n{temp}\n    access_log {prefix}/access.log;", 1)


class Stack:
    def __init__(self, base: str, upstream: Upstream) -> None:
        self.base = base
        self.upstream = upstream


@pytest.fixture
async def stack(runtime: App, tmp_path: Path) -> AsyncIterator[Stack]:
    binary = nginx_binary()
    async with serving(runtime) as fluide_port:
        upstream = Upstream(
            f"http://127.0.0.1:{fluide_port}/.well-known/jwks.json", runtime.infra.settings.issuer
        )
        async with serving(upstream) as upstream_port:
            prefix = tmp_path / "nginx"
            prefix.mkdir()
            sock = free_socket()
            listen = sock.getsockname()[1]
            sock.close()
            conf = prefix / "nginx.conf"
            conf.write_text(nginx_config(prefix, fluide_port, upstream_port, listen))
            proc = await asyncio.create_subprocess_exec(
                binary,
                "-p",
                str(prefix),
                "-c",
                str(conf),
                "-e",
                "stderr",
                "-g",
                "daemon off;",
                stderr=asyncio.subprocess.PIPE,
            )
            try:
                base = f"http://127.0.0.1:{listen}"
                await _wait_listening(base, proc)
                yield Stack(base, upstream)
            finally:
                if proc.returncode is None:
                    proc.terminate()
                await proc.wait()


async def _wait_listening(base: str, proc: asyncio.subprocess.Process) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(200):
            if proc.returncode is not None:
                assert proc.stderr is not None
                pytest.fail(f"nginx stopped: {(await proc.stderr.read()).decode()[-2000:]}")
            try:
                await http.get(base + "/nothing")
                return
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    pytest.fail("nginx did not start listening")


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.base, timeout=10) as c:
        yield c


async def token(client: httpx.AsyncClient, dev: Dev, scope: str | None = None) -> dict[str, str]:
    if scope is None:
        return bearer((await exchange(client, dev))["accessToken"], dev)
    headers = {**dev.exchange_headers(), "X-Fluide-Scope": scope}
    resp = await client.post("/api/v1/authorize/token", headers=headers)
    assert resp.status_code == 200
    return bearer(resp.json()["accessToken"], dev)


async def test_valid_call_reaches_upstream_with_identity_only(
    client: httpx.AsyncClient, http: httpx.AsyncClient, stack: Stack, dev: Dev
) -> None:
    headers = await token(client, dev)
    forged = {"X-Fluide-Tenant-Id": "other-tenant", "X-Fluide-Context": "forged"}
    resp = await http.get("/orders/7?q=1", headers={**headers, **forged, "X-Request-Id": "e2e-1"})
    assert resp.status_code == 200, resp.text
    seen = stack.upstream.seen[-1]
    got = seen["headers"]
    assert (seen["path"], seen["query"]) == ("/orders/7", "q=1")
    assert got["x-fluide-tenant-id"] == dev.tenant_id
    assert got["x-fluide-credential-id"] == dev.credential_id
    assert "books:read" in got["x-fluide-scopes"].split()
    assert got["x-request-id"] == "e2e-1"
    assert "x-fluide-api-secret" not in got
    assert "authorization" not in got and "x-fluide-api-key" not in got
    # The upstream verified the context offline with the JWKS, for its own audience.
    assert "context_error" not in seen
    assert seen["context"]["tenant_id"] == dev.tenant_id
    assert (seen["context"]["method"], seen["context"]["path"]) == ("GET", "/orders/7")


async def test_guard_failures_come_back_as_our_envelope(
    client: httpx.AsyncClient, http: httpx.AsyncClient, stack: Stack, dev: Dev
) -> None:
    headers = await token(client, dev, scope="books:read")
    cases: list[tuple[str, str, dict[str, str], int, str]] = [
        ("GET", "/orders/1", {}, 401, "AUTHORIZATION_MISSING"),
        ("GET", "/orders/1", {**headers, "Authorization": "Bearer a.b.c"}, 401, "TOKEN_INVALID"),
        (
            "GET",
            "/orders/1",
            {**headers, "Authorization": "Basic x"},
            401,
            "AUTHORIZATION_MALFORMED",
        ),
        ("POST", "/orders/1", headers, 403, "INSUFFICIENT_SCOPE"),
        (
            "GET",
            "/orders/1",
            {**headers, "X-Fluide-Api-Secret": dev.api_secret},
            400,
            "API_SECRET_NOT_ALLOWED",
        ),
        # nginx routes on the normalised path, decide judges the URI as sent: refused.
        ("GET", "/orders/a/%2e%2e/b", headers, 400, "VALIDATION_FAILED"),
        ("GET", "/orders//b", headers, 400, "VALIDATION_FAILED"),
        # Normalised out of /orders by nginx: no route, our 404.
        ("GET", "/orders/%2e%2e/admin", headers, 404, "NOT_FOUND"),
        ("GET", "/ordersx", headers, 404, "NOT_FOUND"),
    ]
    before = len(stack.upstream.seen)
    for method, path, hdrs, status, code in cases:
        resp = await http.request(method, path, headers={**hdrs, "X-Request-Id": f"rid-{code}"})
        assert resp.status_code == status, (path, code, resp.text)
        body = resp.json()
        assert body["code"] == code and body["statusCode"] == status, body
        assert body["requestId"] == f"rid-{code}"
        if status == 401:
            assert len(resp.headers.get_list("www-authenticate")) == 1
            assert resp.headers["www-authenticate"].startswith("Bearer")
        assert dev.api_secret not in resp.text
    assert len(stack.upstream.seen) == before  # nothing reached the upstream


async def test_a_dpop_bound_token_is_refused_with_its_own_challenge(
    client: httpx.AsyncClient, http: httpx.AsyncClient, stack: Stack, dev: Dev, runtime: App
) -> None:
    """Forward auth checks no DPoP proof, so a bound token is refused there. Sent as Bearer,
    the caller gets through nginx what decide said: TOKEN_INVALID, its message, and the
    ``DPoP`` challenge (not a Bearer token's), once. Sent as DPoP, the scheme decide does not
    take: AUTHORIZATION_MALFORMED."""
    key = DpopKey()
    tok = await bound_token(client, runtime, dev, key)
    before = len(stack.upstream.seen)
    resp = await http.get("/orders/1", headers=bearer(tok, dev))
    assert resp.status_code == 401, resp.text
    assert resp.json()["code"] == "TOKEN_INVALID"
    assert "does not accept DPoP-bound tokens" in resp.json()["message"]
    challenges = resp.headers.get_list("www-authenticate")
    assert len(challenges) == 1 and challenges[0].startswith('DPoP error="invalid_token"')
    proof = key.proof("GET", stack.base + "/orders/1", runtime.infra.clock().timestamp(), token=tok)
    resp = await http.get("/orders/1", headers=dpop_headers(tok, proof, dev.api_key))
    assert resp.status_code == 401 and resp.json()["code"] == "AUTHORIZATION_MALFORMED"
    assert len(resp.headers.get_list("www-authenticate")) == 1
    assert len(stack.upstream.seen) == before


async def test_a_forged_variant_header_changes_no_refusal(
    http: httpx.AsyncClient, stack: Stack, dev: Dev
) -> None:
    """A client sending ``X-Fluide-Error-Variant: dpop`` (or the other denial headers) with a
    plain bad token gets the plain refusal: the denial page hears only what decide said."""
    forged = {
        "X-Fluide-Error-Variant": "dpop",
        "X-Fluide-Error-Code": "INSUFFICIENT_SCOPE",
        "X-Fluide-Error-Scope": "hr:read",
    }
    before = len(stack.upstream.seen)
    resp = await http.get("/orders/1", headers={**bearer("a.b.c", dev), **forged})
    assert resp.status_code == 401, resp.text
    assert resp.json()["code"] == "TOKEN_INVALID"
    assert resp.json()["message"] == "Access token is invalid"
    challenges = resp.headers.get_list("www-authenticate")
    assert len(challenges) == 1 and challenges[0].startswith("Bearer")
    assert len(stack.upstream.seen) == before


@pytest.mark.usefixtures("whole_minute")
async def test_rate_limit_through_nginx(
    client: httpx.AsyncClient, http: httpx.AsyncClient, dev: Dev, runtime: App
) -> None:
    headers = await token(client, dev)
    runtime.gateway.limiter = ProductLimiter("2/minute")  # check 12, as any product call
    statuses = [(await http.get("/orders/a", headers=headers)).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    resp = await http.get("/orders/a", headers=headers)
    assert resp.status_code == 429 and resp.json()["code"] == "RATE_LIMITED"
    assert int(resp.headers["retry-after"]) >= 1


async def test_client_cannot_choose_the_original_uri(
    client: httpx.AsyncClient, http: httpx.AsyncClient, stack: Stack, dev: Dev
) -> None:
    """A books:read token may read /orders, not write it; forged proxy headers from the client
    do not change what nginx asks about."""
    headers = await token(client, dev, scope="books:read")
    for forged in (
        {"X-Original-Method": "GET", "X-Original-URI": "/orders/1"},
        {"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/orders/1"},
    ):
        resp = await http.post("/orders/1", headers={**headers, **forged}, content=b"{}")
        assert resp.status_code == 403, (forged, resp.text)
        assert resp.json()["code"] == "INSUFFICIENT_SCOPE"


async def test_huge_header_never_reaches_upstream(
    client: httpx.AsyncClient, http: httpx.AsyncClient, stack: Stack, dev: Dev
) -> None:
    headers = await token(client, dev)
    before = len(stack.upstream.seen)
    resp = await http.get("/orders/1", headers={**headers, "X-Big": "a" * 40000})
    assert resp.status_code in (400, 431, 494)
    assert len(stack.upstream.seen) == before
