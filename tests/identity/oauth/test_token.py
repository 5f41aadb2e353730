"""``POST /oauth/token`` (DESIGN §3.6, issue 16): RFC 6749 §4.4 over the real app, on SQLite and
PostgreSQL: both client authentication methods, scopes, every §5.2 error, and the attacker's
requests (wrong or borrowed secrets, widened scopes, other grants, malformed Basic, two methods
at once, huge fields), none of which is ever a 5xx."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import jwt as pyjwt
import pytest
from sqlalchemy import select

from fluide.app import App
from fluide.catalog import ALL_SCOPES
from fluide.identity.models import AuditEvent, IssuedToken
from tests.conftest import CLIENT_ID, Dev, create_dev
from tests.identity.oauth.support import TOKEN, basic, error_of, oauth_token, post_form
from tests.identity.support import sign_in_owner

HEALTH = "/api/v1/hr/health"
ALL = " ".join(ALL_SCOPES)
METHODS = ["client_secret_basic", "client_secret_post"]


def claims_of(rt: App, token: str) -> dict[str, Any]:
    """Verified as a resource server would: our published key, our issuer and audience."""
    header = pyjwt.get_unverified_header(token)
    jwk = next(k for k in rt.identity.state.keyset.jwks["keys"] if k["kid"] == header["kid"])
    claims: dict[str, Any] = pyjwt.decode(
        token,
        pyjwt.PyJWK(jwk).key,
        algorithms=[jwk["alg"]],
        issuer=rt.infra.settings.issuer,
        audience=rt.infra.settings.token_audience,
    )
    return claims


@pytest.mark.parametrize("method", METHODS)
async def test_client_credentials_grant_answers_rfc_6749_5_1(
    client: httpx.AsyncClient, dev: Dev, runtime: App, method: str
) -> None:
    resp = await oauth_token(client, dev.api_key, dev.api_secret, method=method)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["scope"] == ALL
    assert resp.headers["cache-control"] == "no-store"
    assert resp.headers["pragma"] == "no-cache"
    assert resp.headers["content-type"] == "application/json"
    claims = claims_of(runtime, body["access_token"])
    assert claims["client_id"] == dev.api_key == claims["api_key"]
    assert claims["aud"] == runtime.infra.settings.token_audience
    assert claims["tenant_id"] == dev.tenant_id
    assert claims["fluide_client_id"] == CLIENT_ID
    assert pyjwt.get_unverified_header(body["access_token"])["typ"] == "at+jwt"
    # The same JWT as the JSON exchange's: the guard takes it on a product route.
    product = await client.get(
        HEALTH,
        headers={
            "Authorization": f"Bearer {body['access_token']}",
            "X-Fluide-Api-Key": dev.api_key,
            "X-Fluide-Client-Id": CLIENT_ID,
        },
    )
    assert product.status_code == 200, product.text


async def test_the_json_exchange_token_carries_the_rfc_9068_claims_too(
    client: httpx.AsyncClient, dev: Dev, runtime: App
) -> None:
    resp = await client.post("/api/v1/authorize/token", headers=dev.exchange_headers())
    claims = claims_of(runtime, resp.json()["accessToken"])
    assert claims["client_id"] == dev.api_key
    assert claims["aud"] == runtime.infra.settings.token_audience


async def test_the_exchange_is_the_same_one_issued_rows_and_audit(
    client: httpx.AsyncClient, dev: Dev, runtime: App
) -> None:
    body = (await oauth_token(client, dev.api_key, dev.api_secret)).json()
    jti = pyjwt.decode(body["access_token"], options={"verify_signature": False})["jti"]
    bad = await oauth_token(client, dev.api_key, "fl_sk_wrong")
    assert error_of(bad) == (401, "invalid_client")
    async with runtime.infra.sessionmaker() as session:
        row = await session.get(IssuedToken, jti)
        events = (
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "token.exchange")
                .order_by(AuditEvent.id)
            )
        ).all()
    assert row is not None and row.credential_id == dev.credential_id
    assert [(e.outcome, e.code) for e in events][-2:] == [
        ("success", None),
        ("denied", "DEVELOPER_KEYS_INVALID"),
    ]


@pytest.mark.parametrize("method", METHODS)
async def test_scope_narrows_and_never_widens(
    client: httpx.AsyncClient, dev: Dev, runtime: App, method: str
) -> None:
    resp = await oauth_token(client, dev.api_key, dev.api_secret, method=method, scope="hr:read")
    assert resp.json()["scope"] == "hr:read"
    assert claims_of(runtime, resp.json()["access_token"])["scope"] == "hr:read"
    for wider in ("hr:read admin:all", "partner:client:act-as", "HR:READ", "hr:read\tx"):
        resp = await oauth_token(client, dev.api_key, dev.api_secret, method=method, scope=wider)
        assert error_of(resp) == (400, "invalid_scope"), wider
    # A wrong secret with a widened scope says nothing about the scope.
    resp = await oauth_token(client, dev.api_key, "fl_sk_nope", method=method, scope="admin:all")
    assert error_of(resp) == (401, "invalid_client")


async def test_a_narrowed_scope_of_a_narrowed_credential(
    client: httpx.AsyncClient, runtime: App
) -> None:
    owner = await sign_in_owner(runtime, client)
    resp = await client.post(
        "/api/v1/auth/credentials",
        headers={"Authorization": f"Bearer {owner.session_token}"},
        json={"name": "narrow", "scopes": ["hr:read", "books:read"]},
    )
    assert resp.status_code == 201, resp.text
    key, secret = resp.json()["apiKey"], resp.json()["apiSecret"]
    assert (await oauth_token(client, key, secret)).json()["scope"] == "hr:read books:read"
    resp = await oauth_token(client, key, secret, scope="hr:write")
    assert error_of(resp) == (400, "invalid_scope")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({}, "invalid_request"),
        ({"scope": "hr:read"}, "invalid_request"),
        ({"grant_type": ""}, "invalid_request"),
        ({"grant_type": "password", "username": "a", "password": "b"}, "unsupported_grant_type"),
        ({"grant_type": "authorization_code", "code": "x"}, "unsupported_grant_type"),
        ({"grant_type": "refresh_token", "refresh_token": "x"}, "unsupported_grant_type"),
        (
            {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": "a.b.c"},
            "unsupported_grant_type",
        ),
        ({"grant_type": "CLIENT_CREDENTIALS"}, "unsupported_grant_type"),
    ],
)
async def test_grants_other_than_client_credentials(
    client: httpx.AsyncClient, dev: Dev, data: dict[str, str], expected: str
) -> None:
    resp = await post_form(client, TOKEN, data, basic(dev.api_key, dev.api_secret))
    assert error_of(resp) == (400, expected)


async def test_the_body_must_be_a_form(client: httpx.AsyncClient, dev: Dev) -> None:
    auth = basic(dev.api_key, dev.api_secret)
    as_json = await client.post(TOKEN, json={"grant_type": "client_credentials"}, headers=auth)
    assert error_of(as_json) == (400, "invalid_request")
    repeated = await client.post(
        TOKEN,
        content=b"grant_type=client_credentials&grant_type=client_credentials",
        headers={**auth, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert error_of(repeated) == (400, "invalid_request")
    for raw in (b"grant_type=client_credentials&scope=%FF", "scope=é".encode()):
        resp = await client.post(
            TOKEN,
            content=raw,
            headers={**auth, "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert error_of(resp) == (400, "invalid_request"), raw
    charset = await client.post(
        TOKEN,
        content=b"grant_type=client_credentials",
        headers={**auth, "Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"},
    )
    assert charset.status_code == 200
    get = await client.get(TOKEN)
    assert get.status_code == 405


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic",
        "Basic ",
        "Basic !!!not-base64!!!",
        "Basic " + _b64(b"no-colon-at-all"),
        "Basic " + _b64(b":only-a-secret"),
        "Basic " + _b64(b"only-an-id:"),
        "Basic " + _b64(b"\xff\xfe:\xff"),
        "Basic " + _b64(b"a:b") + "===",
        "Bearer abc.def.ghi",
        "Digest username=x",
    ],
)
async def test_malformed_client_authentication_is_invalid_client(
    client: httpx.AsyncClient, authorization: str
) -> None:
    resp = await client.post(
        TOKEN, data={"grant_type": "client_credentials"}, headers={"Authorization": authorization}
    )
    assert error_of(resp) == (401, "invalid_client")


async def test_no_client_authentication_is_invalid_client(client: httpx.AsyncClient) -> None:
    resp = await post_form(client, TOKEN, {"grant_type": "client_credentials"})
    assert error_of(resp) == (401, "invalid_client")
    assert resp.headers["www-authenticate"] == 'Basic realm="fluide", charset="UTF-8"'


async def test_two_methods_at_once_are_refused(client: httpx.AsyncClient, dev: Dev) -> None:
    data = {"grant_type": "client_credentials", "client_secret": dev.api_secret}
    resp = await post_form(client, TOKEN, data, basic(dev.api_key, dev.api_secret))
    assert error_of(resp) == (400, "invalid_request")
    # A client_id beside Basic must name the same client.
    other = {"grant_type": "client_credentials", "client_id": "fl_dev_someone_else"}
    resp = await post_form(client, TOKEN, other, basic(dev.api_key, dev.api_secret))
    assert error_of(resp) == (400, "invalid_request")
    same = {"grant_type": "client_credentials", "client_id": dev.api_key}
    resp = await post_form(client, TOKEN, same, basic(dev.api_key, dev.api_secret))
    assert resp.status_code == 200


@pytest.mark.parametrize("method", METHODS)
async def test_wrong_borrowed_and_unknown_secrets_are_one_answer(
    client: httpx.AsyncClient, dev: Dev, runtime: App, method: str
) -> None:
    other = await create_dev(runtime)
    cases = [
        (dev.api_key, "fl_sk_wrong"),
        (dev.api_key, other.api_secret),  # another key's secret
        (other.api_key, dev.api_secret),
        (dev.api_key[:-1] + ("x" if dev.api_key[-1] != "x" else "y"), dev.api_secret),
        ("fl_dev_" + "A" * 38, dev.api_secret),  # unknown
        ("not-a-key", dev.api_secret),
        (dev.api_key, dev.api_key),  # the key as its own secret
    ]
    for key, secret in cases:
        resp = await oauth_token(client, key, secret, method=method)
        assert error_of(resp) == (401, "invalid_client"), (key[:12], method)
        assert resp.json()["error_description"] == "Client authentication failed"


async def test_unverified_and_revoked_clients(client: httpx.AsyncClient, runtime: App) -> None:
    unverified = await create_dev(runtime, verified=False)
    resp = await oauth_token(client, unverified.api_key, unverified.api_secret)
    assert error_of(resp) == (400, "unauthorized_client")
    owner = await sign_in_owner(runtime, client)
    key = await owner.create_key()
    assert (await oauth_token(client, key.api_key, key.secret)).status_code == 200
    await owner.revoke(key)
    resp = await oauth_token(client, key.api_key, key.secret)
    assert error_of(resp) == (401, "invalid_client")


async def test_a_previous_secret_exchanges_only_during_its_grace(
    client: httpx.AsyncClient, runtime: App
) -> None:
    owner = await sign_in_owner(runtime, client)
    key = await owner.create_key()
    new = await owner.rotate(key, grace_seconds=3600)
    for secret in (key.secret, new):
        assert (await oauth_token(client, key.api_key, secret)).status_code == 200
    newest = await owner.rotate(key, grace_seconds=0)
    for secret in (key.secret, new):
        assert error_of(await oauth_token(client, key.api_key, secret)) == (401, "invalid_client")
    assert (await oauth_token(client, key.api_key, newest)).status_code == 200


@pytest.mark.parametrize(
    "data",
    [
        {"client_id": "fl_dev_" + "A" * 5000, "client_secret": "x"},
        {"client_id": "fl_dev_x", "client_secret": "fl_sk_" + "B" * 5000},
        {"scope": "hr:read " * 5000},
        {f"f{i}": "1" for i in range(100)},
    ],
)
async def test_huge_fields_are_refused_and_never_a_5xx(
    client: httpx.AsyncClient, dev: Dev, data: dict[str, str]
) -> None:
    form = {"grant_type": "client_credentials", **data}
    headers = {} if "client_id" in data else basic(dev.api_key, dev.api_secret)
    resp = await post_form(client, TOKEN, form, headers)
    status, error = error_of(resp)
    assert status == 400 and error in ("invalid_request", "invalid_scope")


async def test_unknown_parameters_are_ignored_and_a_huge_body_is_refused_at_the_edge(
    client: httpx.AsyncClient, dev: Dev
) -> None:
    """RFC 6749 §3.2: unrecognised parameters are ignored; past the body limit, 413."""
    auth = basic(dev.api_key, dev.api_secret)
    form = {"grant_type": "client_credentials", "extra": "C" * 200_000}
    assert (await post_form(client, TOKEN, form, auth)).status_code == 200
    form["extra"] = "C" * (2 * 1024 * 1024)
    assert (await post_form(client, TOKEN, form, auth)).status_code == 413


async def test_a_huge_basic_header_is_refused_at_the_edge(client: httpx.AsyncClient) -> None:
    resp = await post_form(
        client, TOKEN, {"grant_type": "client_credentials"}, basic("fl_dev_x", "y" * 20_000)
    )
    assert resp.status_code in (400, 413, 431)


async def test_the_api_secret_header_is_refused_here_too(
    client: httpx.AsyncClient, dev: Dev
) -> None:
    resp = await post_form(
        client,
        TOKEN,
        {"grant_type": "client_credentials"},
        {**basic(dev.api_key, dev.api_secret), "X-Fluide-Api-Secret": dev.api_secret},
    )
    assert resp.status_code == 400
    assert resp.json()["code"] == "API_SECRET_NOT_ALLOWED"


async def test_under_a_root_path_the_documented_route_serves_it(runtime: App, dev: Dev) -> None:
    transport = httpx.ASGITransport(app=runtime, root_path="/connect-api")
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        resp = await c.post(
            "/connect-api/oauth/token",
            data={"grant_type": "client_credentials"},
            headers=basic(dev.api_key, dev.api_secret),
        )
        assert resp.status_code == 200, resp.text
        assert resp.headers["cache-control"] == "no-store"
        bad = await c.post(
            "/connect-api/oauth/token",
            data={"grant_type": "client_credentials"},
            headers=basic(dev.api_key, "fl_sk_wrong"),
        )
        assert error_of(bad) == (401, "invalid_client")
