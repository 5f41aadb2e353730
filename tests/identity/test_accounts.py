"""Sign-up, email verification by code, sign-in/out, credentials and audit for the account."""

from __future__ import annotations

import email
import re
from email.message import Message
from pathlib import Path

import httpx
import pytest

from fluide.kit.clock import FrozenClock
from fluide.runtime import Runtime

PASSWORD = "correct horse battery staple"


def _outbox(runtime: Runtime) -> list[Message]:
    folder = runtime.settings.data_dir / "outbox"
    return [email.message_from_bytes(p.read_bytes()) for p in sorted(Path(folder).glob("*.eml"))]


def _code_for(runtime: Runtime, address: str) -> str:
    mails = [m for m in _outbox(runtime) if m["To"] == address]
    assert mails, "no verification mail"
    match = re.search(r"\b(\d{6})\b", str(mails[-1]["Subject"]))
    assert match
    return match.group(1)


async def _signup(client: httpx.AsyncClient, address: str) -> httpx.Response:
    return await client.post("/api/v1/auth/signup", json={"email": address, "password": PASSWORD})


async def test_signup_verify_returns_the_secret_once(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    resp = await _signup(client, "ada@example.com")
    assert resp.status_code == 201
    assert resp.json()["verificationRequired"] is True
    code = _code_for(runtime, "ada@example.com")

    verified = await client.post(
        "/api/v1/auth/verify", json={"email": "ada@example.com", "code": code}
    )
    assert verified.status_code == 200
    assert verified.headers["cache-control"] == "no-store"
    cred = verified.json()["credential"]
    assert cred["apiKey"].startswith("fl_dev_")
    assert cred["apiSecret"].startswith("fl_sk_")
    headers = {
        "X-Fluide-Api-Key": cred["apiKey"],
        "X-Fluide-Api-Secret": cred["apiSecret"],
        "X-Fluide-Client-Id": "fluide-developer",
    }
    assert (await client.post("/api/v1/authorize/token", headers=headers)).status_code == 200

    again = await client.post(
        "/api/v1/auth/verify", json={"email": "ada@example.com", "code": code}
    )
    assert again.status_code == 400
    assert cred["apiSecret"] not in again.text


async def test_duplicate_email_and_bad_input(client: httpx.AsyncClient) -> None:
    assert (await _signup(client, "bob@example.com")).status_code == 201
    dup = await _signup(client, "bob@EXAMPLE.com")
    assert (dup.status_code, dup.json()["code"]) == (409, "EMAIL_ALREADY_REGISTERED")
    bad = await client.post("/api/v1/auth/signup", json={"email": "nope", "password": PASSWORD})
    assert (bad.status_code, bad.json()["code"]) == (400, "VALIDATION_FAILED")
    short = await client.post(
        "/api/v1/auth/signup", json={"email": "c@example.com", "password": "short"}
    )
    assert short.json()["code"] == "VALIDATION_FAILED"
    assert "password" in short.json()["errors"]


async def test_five_wrong_codes_lock_the_code(client: httpx.AsyncClient, runtime: Runtime) -> None:
    await _signup(client, "eve@example.com")
    code = _code_for(runtime, "eve@example.com")
    wrong = "000000" if code != "000000" else "111111"
    codes = []
    for _ in range(5):
        resp = await client.post(
            "/api/v1/auth/verify", json={"email": "eve@example.com", "code": wrong}
        )
        codes.append(resp.json()["code"])
    assert codes == ["VERIFICATION_CODE_INVALID"] * 4 + ["VERIFICATION_ATTEMPTS_EXCEEDED"]
    resp = await client.post("/api/v1/auth/verify", json={"email": "eve@example.com", "code": code})
    assert resp.json()["code"] == "VERIFICATION_ATTEMPTS_EXCEEDED"

    assert (
        await client.post("/api/v1/auth/verify/resend", json={"email": "eve@example.com"})
    ).status_code == 202
    fresh = _code_for(runtime, "eve@example.com")
    resp = await client.post(
        "/api/v1/auth/verify", json={"email": "eve@example.com", "code": fresh}
    )
    assert resp.status_code == 200


async def test_code_expires_after_fifteen_minutes(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock
) -> None:
    await _signup(client, "late@example.com")
    code = _code_for(runtime, "late@example.com")
    clock.advance(15 * 60 + 1)
    resp = await client.post(
        "/api/v1/auth/verify", json={"email": "late@example.com", "code": code}
    )
    assert (resp.status_code, resp.json()["code"]) == (400, "VERIFICATION_CODE_EXPIRED")


async def _signed_in(client: httpx.AsyncClient, runtime: Runtime, address: str) -> dict[str, str]:
    await _signup(client, address)
    await client.post(
        "/api/v1/auth/verify", json={"email": address, "code": _code_for(runtime, address)}
    )
    resp = await client.post("/api/v1/auth/signin", json={"email": address, "password": PASSWORD})
    assert resp.status_code == 200
    assert resp.json()["sessionToken"].startswith("fl_sess_")
    return {"Authorization": f"Bearer {resp.json()['sessionToken']}"}


async def test_signin_requires_verification_and_the_right_password(
    client: httpx.AsyncClient,
) -> None:
    await _signup(client, "new@example.com")
    resp = await client.post(
        "/api/v1/auth/signin", json={"email": "new@example.com", "password": PASSWORD}
    )
    assert (resp.status_code, resp.json()["code"]) == (403, "EMAIL_NOT_VERIFIED")
    for address, password in (("new@example.com", "wrong password!"), ("ghost@x.io", PASSWORD)):
        resp = await client.post(
            "/api/v1/auth/signin", json={"email": address, "password": password}
        )
        assert (resp.status_code, resp.json()["code"]) == (401, "INVALID_CREDENTIALS")


async def test_credentials_lifecycle_for_the_signed_in_account(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    session = await _signed_in(client, runtime, "lin@example.com")
    me = await client.get("/api/v1/auth/me", headers=session)
    assert me.json()["email"] == "lin@example.com"

    created = await client.post(
        "/api/v1/auth/credentials",
        headers=session,
        json={"name": "CI key", "environment": "production", "scopes": ["hr:read"]},
    )
    assert created.status_code == 201
    assert created.headers["cache-control"] == "no-store"
    new = created.json()
    assert new["scopes"] == ["hr:read"]

    listed = await client.get("/api/v1/auth/credentials", headers=session)
    body = listed.json()
    assert body["total"] == 2
    assert {"items", "total", "page", "limit"} == set(body)
    assert new["apiSecret"] not in listed.text
    assert "apiSecret" not in listed.text

    revoked = await client.post(f"/api/v1/auth/credentials/{new['id']}/revoke", headers=session)
    assert revoked.json()["status"] == "revoked"
    headers = {
        "X-Fluide-Api-Key": new["apiKey"],
        "X-Fluide-Api-Secret": new["apiSecret"],
        "X-Fluide-Client-Id": "fluide-developer",
    }
    resp = await client.post("/api/v1/authorize/token", headers=headers)
    assert resp.json()["code"] == "CREDENTIAL_REVOKED"

    audit = await client.get("/api/v1/auth/audit", headers=session)
    actions = [e["action"] for e in audit.json()["items"]]
    for action in (
        "account.signup",
        "account.verify",
        "credential.create",
        "credential.revoke",
        "account.signin",
    ):
        assert action in actions
    assert new["apiSecret"] not in audit.text
    denied = await client.get("/api/v1/auth/audit?outcome=denied", headers=session)
    assert [e["code"] for e in denied.json()["items"]] == ["CREDENTIAL_REVOKED"]

    other = await _signed_in(client, runtime, "other@example.com")
    resp = await client.post(f"/api/v1/auth/credentials/{new['id']}/revoke", headers=other)
    assert resp.status_code == 404

    assert (await client.post("/api/v1/auth/signout", headers=session)).status_code == 204
    resp = await client.get("/api/v1/auth/me", headers=session)
    assert (resp.status_code, resp.json()["code"]) == (401, "SESSION_REQUIRED")


@pytest.mark.parametrize(
    "body", [{"name": ""}, {"name": "x", "environment": "moon"}, {"name": "x", "scopes": ["root"]}]
)
async def test_credential_validation(
    client: httpx.AsyncClient, runtime: Runtime, body: dict[str, object]
) -> None:
    session = await _signed_in(client, runtime, "val@example.com")
    resp = await client.post("/api/v1/auth/credentials", headers=session, json=body)
    assert (resp.status_code, resp.json()["code"]) == (400, "VALIDATION_FAILED")
