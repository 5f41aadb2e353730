"""Issue 16: the OAuth endpoints during a database outage answer what an OAuth client handles.

``/oauth/token``, ``/oauth/introspect`` and ``/oauth/revoke`` with the database cut: 503 with
``Retry-After``, ``Cache-Control: no-store`` and an RFC 6749 §5.2 body
(``temporarily_unavailable``), never a 500, never a token, never ``active: true``. Authlib and
oauthlib (requests-oauthlib's parser) raise on it instead of storing it as a token. A burst cut
midway hands out no token whose audit row did not land. The real app on PostgreSQL reached
through a ``FaultProxy`` (tests/reliability/faultproxy.py), as in test_dependency_faults.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from oauthlib.oauth2 import BackendApplicationClient, TemporarilyUnavailableError

from fluide.app import App
from fluide.kit import faults
from tests.conftest import create_dev
from tests.identity.oauth.support import INTROSPECT, REVOKE, basic, error_of, oauth_token
from tests.reliability.faultproxy import FaultProxy
from tests.reliability.report import COUNTS
from tests.reliability.test_dependency_faults import (
    _durable_jtis,
    http,
    pg_proxy,
    redis_proxy,
    rt,
    timed,
)

__all__ = ["http", "pg_proxy", "redis_proxy", "rt"]  # fixtures shared with test_dependency_faults


def assert_oauth_unavailable(resp: httpx.Response) -> None:
    """The outage's answer in the OAuth form: 503, Retry-After, no-store, RFC 6749 §5.2."""
    assert resp.status_code == 503, (resp.status_code, resp.text[:300])
    assert resp.headers["retry-after"] == str(faults.RETRY_AFTER_SECONDS)
    assert resp.headers["content-type"] == "application/json"
    assert error_of(resp) == (503, "temporarily_unavailable")
    assert "access_token" not in resp.text and "active" not in resp.text
    COUNTS["fault_503s"] += 1


async def test_oauth_endpoints_answer_503_in_the_oauth_form_while_the_database_is_down(
    rt: App, http: httpx.AsyncClient, pg_proxy: FaultProxy
) -> None:
    dev = await create_dev(rt)
    issued = await oauth_token(http, dev.api_key, dev.api_secret)
    assert issued.status_code == 200, issued.text
    token = issued.json()["access_token"]
    auth = basic(dev.api_key, dev.api_secret)

    await pg_proxy.refuse()
    pg_proxy.cut()
    for _ in range(3):  # every time, not only the first
        for method in ("client_secret_basic", "client_secret_post"):
            got = await timed(oauth_token(http, dev.api_key, dev.api_secret, method=method))
            assert_oauth_unavailable(got)
        assert_oauth_unavailable(
            await timed(http.post(INTROSPECT, data={"token": token}, headers=auth))
        )
        assert_oauth_unavailable(
            await timed(http.post(REVOKE, data={"token": token}, headers=auth))
        )
    # What the clients make of it: an error, never a token.
    with pytest.raises(TemporarilyUnavailableError):
        BackendApplicationClient(dev.api_key).parse_request_body_response(got.text)
    await _authlib_raises(rt, dev.api_key, dev.api_secret)

    await pg_proxy.restore()
    for _ in range(100):  # back within the probe's next ticks
        again = await oauth_token(http, dev.api_key, dev.api_secret)
        if again.status_code == 200:
            break
        assert_oauth_unavailable(again)
        await asyncio.sleep(0.05)
    assert again.status_code == 200, again.text
    live = await http.post(INTROSPECT, data={"token": token}, headers=auth)
    assert live.status_code == 200 and live.json()["active"] is True  # the revoke did nothing


async def _authlib_raises(rt: App, api_key: str, api_secret: str) -> None:
    from authlib.integrations.httpx_client import AsyncOAuth2Client

    transport = httpx.ASGITransport(app=rt, raise_app_exceptions=False)
    async with AsyncOAuth2Client(
        api_key, api_secret, transport=transport, base_url="http://testserver"
    ) as client:
        with pytest.raises(httpx.HTTPStatusError) as caught:
            await client.fetch_token(
                "http://testserver/oauth/token", grant_type="client_credentials"
            )
        assert caught.value.response.status_code == 503
        assert client.token is None


async def test_no_oauth_token_is_handed_out_whose_audit_row_is_not_durable(
    rt: App, http: httpx.AsyncClient, pg_proxy: FaultProxy
) -> None:
    dev = await create_dev(rt)
    issued: list[str] = []

    async def fetch() -> None:
        resp = await oauth_token(http, dev.api_key, dev.api_secret)
        if resp.status_code == 200:
            issued.append(_jti(resp.json()["access_token"]))
        else:
            assert_oauth_unavailable(resp)

    await asyncio.gather(*(fetch() for _ in range(5)))
    pg_proxy.delay(0.2)
    burst = asyncio.gather(*(fetch() for _ in range(10)))
    await asyncio.sleep(0.1)
    await pg_proxy.refuse()
    pg_proxy.cut()
    await burst
    assert len(issued) < 15, "the cut refused nothing: the test proved nothing"
    await pg_proxy.restore()
    pg_proxy.delay(0)
    before = len(issued)
    while len(issued) == before:  # back: tokens are issued again
        await fetch()
    stored, audited = await _durable_jtis(rt)
    assert set(issued) <= stored, "a token was handed out without its row"
    assert set(issued) <= audited, "a token was handed out without its audit row"


def _jti(token: str) -> str:
    import jwt

    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return str(claims["jti"])
