"""Every failure leaves as the DESIGN §3.1 envelope with a request id."""

from __future__ import annotations

import httpx
from sqlalchemy import insert, text

from fluide.app import App
from fluide.kit import money
from fluide.kit.errors import DEFAULT_CHALLENGE, AppError, Forbidden, Unauthorized
from fluide.products.pay.models import Wallet
from tests.conftest import Dev


async def test_unknown_route_and_method_use_the_envelope(client: httpx.AsyncClient) -> None:
    resp = await client.get("/api/v1/nope")
    body = resp.json()
    assert resp.status_code == 404
    assert body["success"] is False
    assert body["code"] == "NOT_FOUND"
    assert body["statusCode"] == 404
    assert body["timestamp"].endswith("Z")
    assert body["requestId"] == resp.headers["x-request-id"]
    assert "errors" not in body
    resp = await client.delete("/api/v1/authorize/token")
    assert (resp.status_code, resp.json()["code"]) == (405, "METHOD_NOT_ALLOWED")


async def test_request_id_is_echoed_when_sane(client: httpx.AsyncClient) -> None:
    resp = await client.get("/api/v1", headers={"X-Request-Id": "abc-123"})
    assert resp.headers["x-request-id"] == "abc-123"
    resp = await client.get("/api/v1", headers={"X-Request-Id": "bad id with spaces"})
    assert resp.headers["x-request-id"] != "bad id with spaces"
    assert len(resp.headers["x-request-id"]) == 32


async def test_invalid_json_is_validation_failed(client: httpx.AsyncClient, dev: Dev) -> None:
    resp = await client.post(
        "/api/v1/auth/signup", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert (resp.status_code, resp.json()["code"]) == (400, "VALIDATION_FAILED")
    assert "errors" in resp.json()


async def test_a_crash_is_a_generic_500_with_the_request_id(app: App) -> None:
    @app.fastapi.get("/api/v1/_boom")
    async def boom() -> None:
        raise RuntimeError("SELECT secret FROM credentials -- fl_sk_leak")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        resp = await client.get("/api/v1/_boom", headers={"X-Request-Id": "r-1"})
    assert resp.status_code == 500
    assert resp.json()["code"] == "INTERNAL_ERROR"
    assert resp.json()["message"] == "Internal server error"
    assert resp.json()["requestId"] == "r-1"
    assert resp.headers["x-request-id"] == "r-1"
    assert "SELECT" not in resp.text
    assert "fl_sk_leak" not in resp.text


async def test_a_number_the_database_cannot_hold_is_a_400_not_a_500(app: App, backend: str) -> None:
    """The net under a forgotten amount check: a value refused by the money column type, or
    PostgreSQL's "numeric field overflow", is VALIDATION_FAILED naming the limit. Any other
    database error stays a generic 500."""
    runtime = app

    @app.fastapi.post("/api/v1/_store")
    async def store() -> None:
        async with runtime.infra.sessionmaker() as session, session.begin():
            await session.execute(
                insert(Wallet).values(
                    id="wal_x",
                    tenant_id="t",
                    currency="NGN",
                    balance=money.STORAGE_LIMIT,
                    created_at=runtime.infra.clock(),
                    updated_at=runtime.infra.clock(),
                )
            )

    @app.fastapi.post("/api/v1/_cast")
    async def cast() -> None:
        async with runtime.infra.sessionmaker() as session:
            await session.execute(text("SELECT CAST(100000000000000 AS NUMERIC(18, 4))"))

    @app.fastapi.post("/api/v1/_broken")
    async def broken() -> None:
        async with runtime.infra.sessionmaker() as session:
            await session.execute(text("SELECT * FROM no_such_table"))

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        # SQLite has no NUMERIC type to overflow: the column type's own refusal is its net.
        paths = ["/api/v1/_store"] + (["/api/v1/_cast"] if backend == "postgres" else [])
        for path in paths:
            resp = await client.post(path)
            assert resp.status_code == 400, (path, resp.text)
            body = resp.json()
            assert body["code"] == "VALIDATION_FAILED"
            assert body["errors"] == {
                "body": ["amounts and totals must stay below 100000000000000"]
            }
        resp = await client.post("/api/v1/_broken")
        assert (resp.status_code, resp.json()["code"]) == (500, "INTERNAL_ERROR")
        assert "no_such_table" not in resp.text


def test_a_401_always_carries_a_challenge() -> None:
    class Plain(Unauthorized):
        code = "PLAIN"

    class Precise(Unauthorized):
        code, challenge = "PRECISE", 'Bearer error="invalid_token"'

    assert Plain().headers == {"WWW-Authenticate": DEFAULT_CHALLENGE}
    assert Precise().headers == {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    assert AppError(status=401).headers == {"WWW-Authenticate": DEFAULT_CHALLENGE}
    shared = {"X-Other": "1"}
    assert Plain(headers=shared).headers == {"X-Other": "1", "WWW-Authenticate": "Bearer"}
    assert shared == {"X-Other": "1"}  # the caller's dict is left alone
    given = {"WWW-Authenticate": 'Basic realm="x"'}
    assert Precise(headers=given).headers == given
    # Not a 401: nothing added.
    assert AppError().headers == {} and Forbidden().headers == {}
