"""Helpers for the dashboard tests: accounts with passwords, CSRF tokens, outbox codes."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from email import message_from_bytes, policy
from pathlib import Path

import httpx

from fluide.app import App
from fluide.identity.audit import Actor

PASSWORD = "correct horse battery staple"
CSRF_RE = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')
SECRET_RE = re.compile(r"fl_sk_[0-9A-Za-z]{50}")
KEY_RE = re.compile(r"fl_dev_[0-9A-Za-z]{38}")


@dataclass
class Member:
    email: str
    account_id: str
    tenant_id: str
    credential_id: str
    api_key: str
    api_secret: str


async def create_member(rt: App, email: str | None = None, *, partner: bool = False) -> Member:
    """A verified account with a password and its default credential (of a ``PARTNER``
    tenant with ``partner``)."""
    actor = Actor("system", "test", None, None)
    email = email or f"member-{uuid.uuid4().hex[:8]}@example.com"
    async with rt.infra.sessionmaker() as session, session.begin():
        account, _ = await rt.identity.accounts.sign_up(
            session, actor, email=email, password=PASSWORD, tenant_name=None, partner=partner
        )
        issued = await rt.identity.accounts.mark_verified(session, actor, account)
        assert issued is not None
        return Member(
            email,
            account.id,
            account.tenant_id,
            issued.credential.id,
            issued.credential.api_key,
            issued.api_secret,
        )


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


async def sign_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> None:
    page = await client.get("/connect/signin")
    resp = await client.post(
        "/connect/signin",
        data={"email": email, "password": password, "csrf_token": csrf_of(page.text)},
    )
    assert resp.status_code == 303, resp.text
    assert resp.headers["location"] == "/connect/keys"


async def form_token(client: httpx.AsyncClient, path: str = "/connect/keys") -> str:
    resp = await client.get(path)
    assert resp.status_code == 200, resp.text
    return csrf_of(resp.text)


def codes_to(outbox: Path, email: str) -> list[str]:
    """Every verification code sent to ``email``, in no particular order."""
    codes = []
    for path in outbox.glob("*.eml"):
        msg = message_from_bytes(path.read_bytes(), policy=policy.default)
        match = re.search(r"\b(\d{6})\b", str(msg["Subject"]))
        if msg["To"] == email and match:
            codes.append(match.group(1))
    return codes


def latest_code(outbox: Path, email: str) -> str:
    """The 6-digit code of the newest message to ``email`` in the dev outbox."""
    newest: tuple[float, str] | None = None
    for path in outbox.glob("*.eml"):
        msg = message_from_bytes(path.read_bytes(), policy=policy.default)
        if msg["To"] != email:
            continue
        match = re.search(r"\b(\d{6})\b", str(msg["Subject"]))
        if match and (newest is None or path.stat().st_mtime >= newest[0]):
            newest = (path.stat().st_mtime, match.group(1))
    assert newest is not None, f"no verification message for {email}"
    return newest[1]
