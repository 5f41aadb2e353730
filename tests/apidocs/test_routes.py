"""``/docs`` and its assets: everything from the service itself, under a strict CSP."""

from __future__ import annotations

import re

import httpx
import pytest


async def test_docs_page_loads_only_its_own_assets(client: httpx.AsyncClient) -> None:
    resp = await client.get("/docs")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    csp = resp.headers["content-security-policy"]
    for directive in ("default-src 'none'", "script-src 'self'", "style-src 'self'"):
        assert directive in csp
    assert "unsafe" not in csp
    assert resp.headers["x-frame-options"] == "DENY"
    assert "<script>" not in resp.text  # no inline script: the CSP would block it
    refs = re.findall(r'(?:src|href)="([^"]+)"', resp.text)
    assert refs
    for ref in refs:
        assert ref.startswith("/docs/assets/"), ref
        asset = await client.get(ref)
        assert asset.status_code == 200, ref
        assert asset.content
    assert 'data-openapi-url="/openapi.json"' in resp.text


@pytest.mark.parametrize(
    ("name", "media"),
    [
        ("swagger-ui-bundle.js", "text/javascript"),
        ("swagger-ui.css", "text/css"),
        ("fluide-docs.js", "text/javascript"),
        ("fluide-docs.css", "text/css"),
        ("favicon-32x32.png", "image/png"),
    ],
)
async def test_assets_are_served_with_their_type(
    client: httpx.AsyncClient, name: str, media: str
) -> None:
    resp = await client.get(f"/docs/assets/{name}")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith(media)
    assert resp.headers["x-content-type-options"] == "nosniff"


async def test_bundled_swagger_ui_renders_openapi_31(client: httpx.AsyncClient) -> None:
    bundle = (await client.get("/docs/assets/swagger-ui-bundle.js")).text
    assert "openapi: 3.1.0" in bundle  # Swagger UI 4 (swagger-ui-bundle) only knows 3.0.n


@pytest.mark.parametrize(
    "name", ["index.html", "..%2F..%2Fapp.py", "swagger-ui-bundle.js.map", "fluide-docs.py"]
)
async def test_only_listed_assets_are_served(client: httpx.AsyncClient, name: str) -> None:
    resp = await client.get(f"/docs/assets/{name}")
    assert resp.status_code == 404
    assert resp.json()["code"] == "NOT_FOUND"


async def test_reference_is_public(client: httpx.AsyncClient) -> None:
    for path in ("/docs", "/openapi.json"):
        assert (await client.get(path)).status_code == 200
