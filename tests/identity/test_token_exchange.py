"""Token exchange (DESIGN §3.2): success shape, every error code, equal failures."""

from __future__ import annotations

import asyncio

import httpx
import jwt as pyjwt
import pytest
from sqlalchemy import func, select

from fluide.app import App
from fluide.identity.models import AuditEvent, IssuedToken
from tests.conftest import CLIENT_ID, Dev, create_dev, exchange

TOKEN = "/api/v1/authorize/token"


async def test_exchange_returns_the_documented_body(client: httpx.AsyncClient, dev: Dev) -> None:
    body = await exchange(client, dev)
    assert set(body) == {
        "accessToken",
        "tokenType",
        "exp",
        "iat",
        "expiresIn",
        "jti",
        "tenantId",
        "fluideClientId",
        "authContextPath",
        "scope",
    }
    assert body["tokenType"] == "Bearer"
    assert body["expiresIn"] == 900 == body["exp"] - body["iat"]
    assert body["tenantId"] == dev.tenant_id
    assert body["fluideClientId"] == CLIENT_ID
    assert body["authContextPath"] == f"/api/v1/auth-context/{body['jti']}"
    header = pyjwt.get_unverified_header(body["accessToken"])
    assert header["alg"] == "ES256" and header["typ"] == "at+jwt" and header["kid"]


async def test_json_body_is_accepted_and_headers_win(client: httpx.AsyncClient, dev: Dev) -> None:
    resp = await client.post(
        TOKEN, json={"apiKey": dev.api_key, "apiSecret": dev.api_secret, "clientId": CLIENT_ID}
    )
    assert resp.status_code == 200
    resp = await client.post(
        TOKEN,
        json={"apiKey": dev.api_key, "apiSecret": "wrong", "clientId": CLIENT_ID},
        headers={"X-Fluide-Api-Secret": dev.api_secret},
    )
    assert resp.status_code == 200


async def test_legacy_alias_path(client: httpx.AsyncClient, dev: Dev) -> None:
    resp = await client.post("/api/v1/developer-access/token", headers=dev.exchange_headers())
    assert resp.status_code == 200


@pytest.mark.parametrize(
    "missing", ["X-Fluide-Api-Key", "X-Fluide-Api-Secret", "X-Fluide-Client-Id"]
)
async def test_missing_header_is_validation_failed(
    client: httpx.AsyncClient, dev: Dev, missing: str
) -> None:
    headers = dev.exchange_headers()
    del headers[missing]
    resp = await client.post(TOKEN, headers=headers)
    assert resp.status_code == 400
    body = resp.json()
    assert body["code"] == "VALIDATION_FAILED"
    assert missing in body["errors"]
    assert body["success"] is False and body["statusCode"] == 400
    assert body["requestId"] == resp.headers["x-request-id"]


async def test_unknown_key_wrong_secret_and_malformed_key_look_the_same(
    client: httpx.AsyncClient, dev: Dev, runtime: App
) -> None:
    other = await create_dev(runtime)
    cases = [
        # bad checksum: the last character changed (never to itself, or the key would be valid)
        {
            **dev.exchange_headers(),
            "X-Fluide-Api-Key": other.api_key[:-1] + _other_char(other.api_key[-1]),
        },
        {**dev.exchange_headers(), "X-Fluide-Api-Key": "fl_dev_" + "A" * 38},  # unknown
        dev.exchange_headers(secret=other.api_secret),  # wrong secret (someone else's)
        {**dev.exchange_headers(), "X-Fluide-Api-Key": "not-a-key"},  # malformed
    ]
    seen = set()
    for headers in cases:
        resp = await client.post(TOKEN, headers=headers)
        body = resp.json()
        seen.add((resp.status_code, body["code"], body["message"]))
    assert seen == {(401, "DEVELOPER_KEYS_INVALID", "API key or secret is invalid")}


async def test_client_id_invalid(client: httpx.AsyncClient, dev: Dev) -> None:
    resp = await client.post(
        TOKEN, headers={**dev.exchange_headers(), "X-Fluide-Client-Id": "fluide-admin"}
    )
    assert resp.status_code == 401
    assert resp.json()["code"] == "CLIENT_ID_INVALID"


async def test_email_not_verified(client: httpx.AsyncClient, runtime: App) -> None:
    unverified = await create_dev(runtime, verified=False)
    resp = await client.post(TOKEN, headers=unverified.exchange_headers())
    assert resp.status_code == 403
    assert resp.json()["code"] == "EMAIL_NOT_VERIFIED"


async def test_scope_narrowing(client: httpx.AsyncClient, dev: Dev) -> None:
    resp = await client.post(
        TOKEN, headers={**dev.exchange_headers()}, json={"scope": "hr:read payroll:read"}
    )
    assert resp.status_code == 200
    assert resp.json()["scope"] == "hr:read payroll:read"
    resp = await client.post(TOKEN, headers=dev.exchange_headers(), json={"scope": "admin:all"})
    assert resp.status_code == 400
    assert resp.json()["code"] == "VALIDATION_FAILED"


async def test_every_exchange_is_audited_without_the_secret(
    client: httpx.AsyncClient, dev: Dev, runtime: App
) -> None:
    await exchange(client, dev)
    await client.post(TOKEN, headers=dev.exchange_headers(secret="fl_sk_wrong"))
    async with runtime.infra.sessionmaker() as session:
        rows = (
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "token.exchange")
                .order_by(AuditEvent.id)
            )
        ).all()
        assert [(r.outcome, r.code) for r in rows] == [
            ("success", None),
            ("denied", "DEVELOPER_KEYS_INVALID"),
        ]
        assert all(r.source_ip and r.request_id for r in rows)
        dump = " ".join(str(r.details) for r in rows)
        assert dev.api_secret not in dump and dev.api_key not in dump
        total = await session.scalar(select(func.count()).select_from(AuditEvent))
        assert total and total >= 2


async def test_concurrent_exchanges_are_durable_when_answered(
    client: httpx.AsyncClient, dev: Dev, runtime: App
) -> None:
    """Group commit: each token is handed out only once its row and audit row are committed."""

    async def one() -> tuple[int, int]:
        body = await exchange(client, dev)
        async with runtime.infra.read_engine.connect() as conn:  # a fresh look, as another process
            tokens = await conn.scalar(
                select(func.count()).select_from(IssuedToken).where(IssuedToken.jti == body["jti"])
            )
            audits = await conn.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(
                    AuditEvent.action == "token.exchange",
                    AuditEvent.outcome == "success",
                    AuditEvent.details["jti"].as_string() == body["jti"],
                )
            )
        return int(tokens or 0), int(audits or 0)

    assert await asyncio.gather(*(one() for _ in range(40))) == [(1, 1)] * 40


async def test_invalid_json_body_is_a_validation_error(client: httpx.AsyncClient) -> None:
    for raw in (b"{not json", b"[1, 2]", b'{"apiKey": 5}'):
        resp = await client.post(TOKEN, content=raw, headers={"Content-Type": "application/json"})
        assert resp.status_code == 400, raw
        body = resp.json()
        assert body["code"] == "VALIDATION_FAILED" and body["errors"]


async def test_under_a_root_path_the_documented_route_serves_the_exchange(
    app: App, dev: Dev
) -> None:
    """Mounted under a prefix (``root_path``), ExchangeFastPath steps aside and the FastAPI
    route (the same handler) answers: same body, same error envelope."""
    transport = httpx.ASGITransport(app=app, root_path="/connect-api")
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        path = "/connect-api" + TOKEN
        ok = await client.post(path, headers=dev.exchange_headers())
        assert ok.status_code == 200, ok.text
        assert ok.json()["tokenType"] == "Bearer"
        assert ok.headers["cache-control"] == "no-store"
        bad = await client.post(path, headers=dev.exchange_headers(secret="fl_sk_wrong"))
        assert bad.status_code == 401
        assert bad.json()["code"] == "DEVELOPER_KEYS_INVALID"
        invalid = await client.post(
            path, content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert (invalid.status_code, invalid.json()["code"]) == (400, "VALIDATION_FAILED")


def _other_char(c: str) -> str:
    return "x" if c != "x" else "y"
