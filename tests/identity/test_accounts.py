"""Sign-up, email verification by code, sign-in/out, credentials and audit for the account."""

from __future__ import annotations

import asyncio
import email
import re
import statistics
import time
from email.message import Message
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from fluide.app import App
from fluide.identity.accounts import service as accounts
from fluide.identity.models import Account
from fluide.kit.clock import FrozenClock

PASSWORD = "correct horse battery staple"


def _outbox(runtime: App) -> list[Message]:
    folder = runtime.infra.settings.data_dir / "outbox"
    return [email.message_from_bytes(p.read_bytes()) for p in sorted(Path(folder).glob("*.eml"))]


def _code_for(runtime: App, address: str) -> str:
    mails = [m for m in _outbox(runtime) if m["To"] == address]
    assert mails, "no verification mail"
    match = re.search(r"\b(\d{6})\b", str(mails[-1]["Subject"]))
    assert match
    return match.group(1)


async def _signup(client: httpx.AsyncClient, address: str) -> httpx.Response:
    return await client.post("/api/v1/auth/signup", json={"email": address, "password": PASSWORD})


async def test_signup_verify_returns_the_secret_once(
    client: httpx.AsyncClient, runtime: App
) -> None:
    resp = await _signup(client, "ada@example.com")
    assert resp.status_code == 202
    assert resp.json() == {"email": "ada@example.com", "verificationRequired": True}
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


async def test_bad_input(client: httpx.AsyncClient) -> None:
    bad = await client.post("/api/v1/auth/signup", json={"email": "nope", "password": PASSWORD})
    assert (bad.status_code, bad.json()["code"]) == (400, "VALIDATION_FAILED")
    assert "email" in bad.json()["errors"]
    short = await client.post(
        "/api/v1/auth/signup", json={"email": "c@example.com", "password": "short"}
    )
    assert short.json()["code"] == "VALIDATION_FAILED"
    assert "password" in short.json()["errors"]


async def test_five_wrong_codes_lock_the_code(client: httpx.AsyncClient, runtime: App) -> None:
    await _signup(client, "eve@example.com")
    code = _code_for(runtime, "eve@example.com")
    wrong = "000000" if code != "000000" else "111111"
    codes = []
    for _ in range(6):
        resp = await client.post(
            "/api/v1/auth/verify", json={"email": "eve@example.com", "code": wrong}
        )
        codes.append(resp.json()["code"])
    # A wrong code never says more than "invalid" (an unknown address answers the same); only
    # the holder of the right code learns that it is locked.
    assert codes == ["VERIFICATION_CODE_INVALID"] * 6
    resp = await client.post("/api/v1/auth/verify", json={"email": "eve@example.com", "code": code})
    assert (resp.status_code, resp.json()["code"]) == (429, "VERIFICATION_ATTEMPTS_EXCEEDED")

    assert (
        await client.post("/api/v1/auth/verify/resend", json={"email": "eve@example.com"})
    ).status_code == 202
    fresh = _code_for(runtime, "eve@example.com")
    resp = await client.post(
        "/api/v1/auth/verify", json={"email": "eve@example.com", "code": fresh}
    )
    assert resp.status_code == 200


async def test_code_expires_after_fifteen_minutes(
    client: httpx.AsyncClient, runtime: App, clock: FrozenClock
) -> None:
    await _signup(client, "late@example.com")
    code = _code_for(runtime, "late@example.com")
    clock.advance(15 * 60 + 1)
    resp = await client.post(
        "/api/v1/auth/verify", json={"email": "late@example.com", "code": code}
    )
    assert (resp.status_code, resp.json()["code"]) == (400, "VERIFICATION_CODE_EXPIRED")


async def _signed_in(client: httpx.AsyncClient, runtime: App, address: str) -> dict[str, str]:
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
    client: httpx.AsyncClient, runtime: App
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
    client: httpx.AsyncClient, runtime: App, body: dict[str, object]
) -> None:
    session = await _signed_in(client, runtime, "val@example.com")
    resp = await client.post("/api/v1/auth/credentials", headers=session, json=body)
    assert (resp.status_code, resp.json()["code"]) == (400, "VALIDATION_FAILED")


# ---- one mailbox, and no account enumeration (DESIGN §4) ---------------------------------------

ONE_MAILBOX_OR_NOTHING = [
    "victim@example.com,attacker@evil.example",
    "victim@example.com;attacker@evil.example",
    "victim@example.com attacker@evil.example",
    "victim@example.com\r\nBcc: attacker@evil.example",
    "victim\x00@example.com",
    "victim@example.com\x00attacker@evil.example",
    "<victim@example.com>",
    "Eve <victim@example.com>",
    '"victim,attacker"@example.com',
    "victim@[127.0.0.1]",
    "victim@localhost",
    "victim@example",
    "@example.com",
    "victim@",
    "x@" + "a" * 250 + ".com",
]


@pytest.mark.parametrize("address", ONE_MAILBOX_OR_NOTHING)
async def test_only_one_mailbox_is_an_email_address(
    client: httpx.AsyncClient, runtime: App, address: str
) -> None:
    """A list, a display name, a NUL or a header break would have been mailed as given: every
    route an address comes in by refuses it, and no mail goes anywhere."""
    answers = [
        await client.post("/api/v1/auth/signup", json={"email": address, "password": PASSWORD}),
        await client.post("/api/v1/auth/verify", json={"email": address, "code": "123456"}),
        await client.post("/api/v1/auth/verify/resend", json={"email": address}),
        await client.post("/api/v1/auth/signin", json={"email": address, "password": PASSWORD}),
    ]
    for resp in answers:
        assert (resp.status_code, resp.json()["code"]) == (400, "VALIDATION_FAILED"), resp.text
        # A NUL is refused at the edge for the whole body (kit.limits), before the field check.
        assert list(resp.json()["errors"]) == (["body"] if "\x00" in address else ["email"])
        assert "\x00" not in resp.text
    assert _outbox(runtime) == []
    async with runtime.infra.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Account)) == 0


async def test_addresses_are_stored_in_one_canonical_form(
    client: httpx.AsyncClient, runtime: App
) -> None:
    resp = await _signup(client, "  Ada.Lovelace@Example.COM ")
    assert resp.json()["email"] == "Ada.Lovelace@example.com"
    resp = await _signup(client, "dev@Bücher.example")
    assert resp.json()["email"] == "dev@xn--bcher-kva.example"  # plain SMTP can deliver it
    assert {m["To"] for m in _outbox(runtime)} == {
        "Ada.Lovelace@example.com",
        "dev@xn--bcher-kva.example",
    }
    # An address that needs an SMTPUTF8 server is refused rather than sent where it may fail.
    bad = await _signup(client, "dév@example.com")
    assert (bad.status_code, bad.json()["code"]) == (400, "VALIDATION_FAILED")


def _shape(resp: httpx.Response) -> tuple[int, list[str], list[str]]:
    """Status, body fields and header names: what differs only with the address is left out."""
    varying = {"x-request-id", "date", "content-length"}
    return (
        resp.status_code,
        sorted(resp.json()),
        sorted(k for k in resp.headers if k not in varying),
    )


async def test_signup_answers_alike_for_new_and_registered_addresses(
    client: httpx.AsyncClient, runtime: App
) -> None:
    first = await _signup(client, "bob@example.com")
    code = _code_for(runtime, "bob@example.com")
    # Registered (and unverified), registered under another case, and a brand-new address.
    again = await _signup(client, "bob@example.com")
    other_case = await client.post(
        "/api/v1/auth/signup", json={"email": "BOB@example.com", "password": "another password!"}
    )
    new = await _signup(client, "carol@example.com")
    assert _shape(first) == _shape(again) == _shape(other_case) == _shape(new)
    assert (
        first.json() == again.json() == {"email": "bob@example.com", "verificationRequired": True}
    )
    assert other_case.json() == {"email": "BOB@example.com", "verificationRequired": True}
    assert new.json() == {"email": "carol@example.com", "verificationRequired": True}
    for resp in (first, again, other_case, new):
        assert "acc_" not in resp.text  # no account id, the registered one's or a fresh one

    # The owner learns it from the mail: a notice, no code, and nothing changed.
    to_bob = [m for m in _outbox(runtime) if m["To"] == "bob@example.com"]  # as stored
    assert len(to_bob) == 3
    notices = to_bob[1:]
    for notice in notices:
        assert "tried to sign up" in str(notice["Subject"])
        assert not re.search(r"\b\d{6}\b", str(notice["Subject"]) + notice.get_payload())
    async with runtime.infra.sessionmaker() as session:
        emails = sorted(await session.scalars(select(Account.email)))
    assert emails == ["bob@example.com", "carol@example.com"]
    verified = await client.post(
        "/api/v1/auth/verify", json={"email": "bob@example.com", "code": code}
    )
    assert verified.status_code == 200  # the first code still works: nothing was superseded
    resp = await client.post(
        "/api/v1/auth/signin", json={"email": "bob@example.com", "password": "another password!"}
    )
    assert resp.json()["code"] == "INVALID_CREDENTIALS"  # the second sign-up set no password
    session_headers = await _sign_in_headers(client, "bob@example.com")

    # A verified address answers the same too, and its owner sees the attempt in the audit log.
    after = await _signup(client, "bob@example.com")
    assert _shape(after) == _shape(first)
    denied = await client.get("/api/v1/auth/audit?outcome=denied", headers=session_headers)
    tries = [e for e in denied.json()["items"] if e["action"] == "account.signup"]
    assert [e["code"] for e in tries] == ["EMAIL_ALREADY_REGISTERED"] * 3


async def _sign_in_headers(client: httpx.AsyncClient, address: str) -> dict[str, str]:
    resp = await client.post("/api/v1/auth/signin", json={"email": address, "password": PASSWORD})
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['sessionToken']}"}


async def test_signup_mail_to_one_address_is_limited(
    client: httpx.AsyncClient, runtime: App
) -> None:
    """Signing a registered address up again and again must not flood its mailbox."""
    for _ in range(8):
        assert (await _signup(client, "flood@example.com")).status_code == 202
    assert len([m for m in _outbox(runtime) if m["To"] == "flood@example.com"]) == 5


async def test_both_sign_up_paths_hash_the_password_once(
    client: httpx.AsyncClient, runtime: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The slow part (Argon2id) runs for a registered address too, so the answer's timing does
    not tell the two cases apart."""
    calls: list[str] = []
    real = accounts.hash_password

    def counting(password: str) -> str:
        calls.append(password)
        return real(password)

    monkeypatch.setattr(accounts, "hash_password", counting)
    await _signup(client, "hash@example.com")
    assert len(calls) == 1
    await _signup(client, "hash@example.com")
    assert len(calls) == 2


async def test_sign_up_takes_as_long_for_a_registered_address(
    client: httpx.AsyncClient, runtime: App
) -> None:
    """Median wall time of interleaved sign-ups, new versus registered: within a factor of 1.5
    (without the password hash on the registered path the ratio was over 10)."""
    await _signup(client, "timed@example.com")
    new: list[float] = []
    known: list[float] = []
    for i in range(9):
        for address, samples in ((f"timed{i}@example.com", new), ("timed@example.com", known)):
            started = time.perf_counter()
            resp = await _signup(client, address)
            samples.append(time.perf_counter() - started)
            assert resp.status_code == 202
    ratio = statistics.median(new) / statistics.median(known)
    assert 1 / 1.5 < ratio < 1.5, (statistics.median(new), statistics.median(known))


async def _verify(client: httpx.AsyncClient, address: str, code: str) -> httpx.Response:
    return await client.post("/api/v1/auth/verify", json={"email": address, "code": code})


async def test_a_wrong_code_answers_alike_for_every_address(
    client: httpx.AsyncClient, runtime: App, clock: FrozenClock
) -> None:
    """Unknown, waiting, verified, expired, locked: a wrong code gets one answer."""
    for address in ("waiting@example.com", "verified@example.com", "expired@example.com"):
        await _signup(client, address)
    assert (
        await _verify(client, "verified@example.com", _code_for(runtime, "verified@example.com"))
    ).status_code == 200
    await _signup(client, "locked@example.com")
    locked_code = _code_for(runtime, "locked@example.com")
    wrong_for = {
        a: _wrong(_code_for(runtime, a)) if a != "unknown@example.com" else "123456"
        for a in ("waiting@example.com", "verified@example.com", "expired@example.com")
    }
    wrong_for["unknown@example.com"] = "123456"
    wrong_for["locked@example.com"] = _wrong(locked_code)
    for _ in range(5):
        await _verify(client, "locked@example.com", wrong_for["locked@example.com"])
    clock.advance(10 * 60)
    await client.post("/api/v1/auth/verify/resend", json={"email": "expired@example.com"})
    expired_code = _code_for(runtime, "expired@example.com")
    wrong_for["expired@example.com"] = _wrong(expired_code)
    clock.advance(15 * 60 + 1)  # the resent code has expired; the others too (no matter)
    answers = {a: await _verify(client, a, code) for a, code in wrong_for.items()}
    shapes = {a: (r.status_code, r.json()["code"], r.json()["message"]) for a, r in answers.items()}
    assert set(shapes.values()) == {
        (400, "VERIFICATION_CODE_INVALID", "The verification code is not valid")
    }, shapes
    # Only the holder of the right code learns more.
    resp = await _verify(client, "expired@example.com", expired_code)
    assert resp.json()["code"] == "VERIFICATION_CODE_EXPIRED"
    resp = await _verify(client, "locked@example.com", locked_code)
    assert resp.json()["code"] == "VERIFICATION_ATTEMPTS_EXCEEDED"


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def test_concurrent_sign_ups_of_one_address_make_one_account(
    client: httpx.AsyncClient, runtime: App
) -> None:
    """The loser of the race (a unique violation on PostgreSQL) answers like the winner."""
    answers = await asyncio.gather(*(_signup(client, "race@example.com") for _ in range(4)))
    assert [a.status_code for a in answers] == [202] * 4
    assert len({a.text for a in answers}) == 1
    async with runtime.infra.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Account)) == 1
    subjects = [str(m["Subject"]) for m in _outbox(runtime) if m["To"] == "race@example.com"]
    assert sum("verification code" in s for s in subjects) == 1
    assert sum("tried to sign up" in s for s in subjects) == 3
