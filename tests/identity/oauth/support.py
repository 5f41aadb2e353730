"""Helpers for the OAuth tests: token requests as an OAuth client sends them."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

import httpx

TOKEN = "/oauth/token"
INTROSPECT = "/oauth/introspect"
REVOKE = "/oauth/revoke"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def basic(client_id: str, secret: str) -> dict[str, str]:
    """RFC 6749 §2.3.1: each part form-urlencoded, then Basic."""
    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


async def post_form(
    client: httpx.AsyncClient,
    path: str,
    data: dict[str, str],
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return await client.post(path, data=data, headers=headers or {})


async def oauth_token(
    client: httpx.AsyncClient,
    api_key: str,
    secret: str,
    *,
    method: str = "client_secret_basic",
    scope: str | None = None,
) -> httpx.Response:
    data: dict[str, str] = {"grant_type": "client_credentials"}
    if scope is not None:
        data["scope"] = scope
    if method == "client_secret_basic":
        return await post_form(client, TOKEN, data, basic(api_key, secret))
    return await post_form(client, TOKEN, {**data, "client_id": api_key, "client_secret": secret})


def error_of(resp: httpx.Response) -> tuple[int, str]:
    """(status, RFC 6749 §5.2 ``error``), checking the body has exactly the §5.2 members."""
    body: dict[str, Any] = resp.json()
    assert set(body) == {"error", "error_description"}, body
    assert resp.headers["cache-control"] == "no-store"
    if resp.status_code == 401:
        assert resp.headers["www-authenticate"].startswith("Basic ")
    return resp.status_code, str(body["error"])
