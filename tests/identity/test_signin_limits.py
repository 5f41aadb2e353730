"""Sign-in throttling per address and per account (DESIGN §4, issue 14 finding 8), over HTTP
from several client addresses, for the API and the dashboard, in memory and on Redis."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from fluide.app import App, create_app
from fluide.identity import hashing
from fluide.identity.accounts import service as accounts
from fluide.identity.accounts.signin import BACK_OFF, LOCKED_OUT
from fluide.identity.models import AuditEvent
from fluide.kit.clock import FrozenClock
from tests.conftest import make_settings, redis_or_skip
from tests.dashboard.support import PASSWORD, Member, create_member, csrf_of

SIGNIN = "/api/v1/auth/signin"
WRONG = "not the password"


@pytest.fixture(params=["memory", "redis"])
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    overrides: dict[str, Any] = {
        "signin_limit": "100/hour",
        "signin_failure_limit": "3/10minutes",
        "signin_account_failure_limit": "5/10minutes",
    }
    if request.param == "redis":
        overrides["redis_url"] = redis_or_skip()
    return overrides


@pytest.fixture
async def member(runtime: App) -> Member:
    return await create_member(runtime)


def addresses(n: int) -> list[str]:
    """Fresh client addresses (counters on a shared Redis outlive a test)."""
    base = random.randrange(1, 250)
    return [f"198.19.{base}.{i + 1}" for i in range(n)]


@asynccontextmanager
async def from_address(app: App, ip: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def attempt(app: App, ip: str, email: str, password: str) -> httpx.Response:
    async with from_address(app, ip) as http:
        return await http.post(SIGNIN, json={"email": email, "password": password})


def outcome(resp: httpx.Response) -> str:
    if resp.status_code == 200:
        return "signed in"
    body = resp.json()
    if resp.status_code == 429:
        assert int(resp.headers["retry-after"]) >= 1
        return {LOCKED_OUT: "locked out", BACK_OFF: "back off"}[body["message"]]
    return str(body["code"])


async def test_an_address_that_failed_too_often_is_locked_out_of_that_account_only(
    app: App, member: Member
) -> None:
    attacker, owner = addresses(2)
    seen = [outcome(await attempt(app, attacker, member.email, WRONG)) for _ in range(4)]
    assert seen == ["INVALID_CREDENTIALS"] * 3 + ["locked out"]
    # Refused without a check, whatever the password: guessing from there has stopped.
    assert outcome(await attempt(app, attacker, member.email, PASSWORD)) == "locked out"
    # Another account from the same address, and the owner from elsewhere, are unaffected.
    other = await create_member(app)
    assert outcome(await attempt(app, attacker, other.email, PASSWORD)) == "signed in"
    assert outcome(await attempt(app, owner, member.email, PASSWORD)) == "signed in"


async def test_failures_from_many_addresses_never_lock_the_owner_out(
    app: App, member: Member
) -> None:
    """Past the per-account window every failing attempt answers 429, from every address; the
    right password still signs in, from an address that failed too or from a fresh one."""
    *botnet, owner = addresses(5)
    seen = []
    for ip in botnet:
        seen += [outcome(await attempt(app, ip, member.email, WRONG)) for _ in range(2)]
    assert seen == ["INVALID_CREDENTIALS"] * 5 + ["back off"] * 3
    assert outcome(await attempt(app, owner, member.email, WRONG)) == "back off"
    assert outcome(await attempt(app, owner, member.email, PASSWORD)) == "signed in"
    assert outcome(await attempt(app, botnet[0], member.email, PASSWORD)) == "signed in"


async def test_an_unknown_email_is_throttled_exactly_like_an_account(
    app: App, member: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same answers, same headers, same password-hashing work: nothing tells the two apart."""
    checks: list[str | None] = []

    def counting(password: str, stored: str | None) -> bool:
        checks.append(stored)
        return hashing.verify_password(password, stored)

    monkeypatch.setattr(accounts, "verify_password", counting)

    async def script(email: str) -> list[tuple[int, str, bool, int]]:
        first, second = addresses(2)
        seen = []
        for ip, password in [(first, WRONG)] * 4 + [(first, PASSWORD)] + [(second, WRONG)] * 3:
            before = len(checks)
            resp = await attempt(app, ip, email, password)
            seen.append(
                (
                    resp.status_code,
                    resp.json()["message"],
                    "retry-after" in resp.headers,  # its value ticks with the clock
                    len(checks) - before,
                )
            )
        return seen

    known = await script(member.email)
    unknown = await script(f"nobody-{uuid.uuid4().hex[:8]}@example.com")
    assert known == unknown
    assert [s[0] for s in known] == [401, 401, 401, 429, 429, 401, 401, 429]
    assert [s[3] for s in known] == [1, 1, 1, 0, 0, 1, 1, 1]  # a hash whenever one is checked


async def test_parallel_guesses_stop_at_the_lock_out(app: App, member: Member) -> None:
    """Attempts for one account from one address are checked one at a time, each looking at
    the lock-out again: of 12 parallel guesses exactly the 3 the window allows are checked."""
    (attacker,) = addresses(1)
    responses = await asyncio.gather(
        *(attempt(app, attacker, member.email, WRONG) for _ in range(12))
    )
    seen = [outcome(r) for r in responses]
    assert seen.count("INVALID_CREDENTIALS") == 3
    assert seen.count("locked out") == 9


async def test_refusals_are_audited_under_the_account_with_the_address(
    app: App, runtime: App, member: Member
) -> None:
    (attacker,) = addresses(1)
    for _ in range(4):
        await attempt(app, attacker, member.email, WRONG)
    async with runtime.infra.sessionmaker() as session:
        rows = (
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "account.signin", AuditEvent.outcome == "denied")
                .order_by(AuditEvent.id)
            )
        ).all()
    assert [(e.code, e.tenant_id, e.source_ip) for e in rows] == [
        ("INVALID_CREDENTIALS", member.tenant_id, attacker)
    ] * 3 + [("RATE_LIMITED", member.tenant_id, attacker)]


async def test_the_dashboard_applies_the_same_limits(app: App, member: Member) -> None:
    attacker, owner = addresses(2)

    async def dashboard(ip: str, password: str) -> httpx.Response:
        async with from_address(app, ip) as http:
            token = csrf_of((await http.get("/connect/signin")).text)
            return await http.post(
                "/connect/signin",
                data={"email": member.email, "password": password, "csrf_token": token},
            )

    statuses = [(await dashboard(attacker, WRONG)).status_code for _ in range(3)]
    assert statuses == [401] * 3
    locked = await dashboard(attacker, PASSWORD)
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) >= 1
    assert "Too many failed sign-in attempts from this address" in locked.text
    assert "fluide_session" not in locked.headers.get("set-cookie", "")
    signed = await dashboard(owner, PASSWORD)
    assert signed.status_code == 303
    assert "fluide_session" in signed.headers["set-cookie"]


@pytest.mark.redis
async def test_processes_on_one_redis_count_an_accounts_failures_together(
    tmp_path: Path, database_url: str, redis_url: str
) -> None:
    overrides = {
        "redis_url": redis_url,
        "signin_failure_limit": "3/10minutes",
        "signin_account_failure_limit": "4/10minutes",
    }
    apps = [
        create_app(make_settings(tmp_path / name, database_url, **overrides), FrozenClock())
        for name in ("a", "b")
    ]
    async with apps[0].lifespan(), apps[1].lifespan():
        member = await create_member(apps[0])
        first, second, owner = addresses(3)
        seen = [outcome(await attempt(app, first, member.email, WRONG)) for app in apps + apps[:1]]
        assert seen == ["INVALID_CREDENTIALS"] * 3
        assert outcome(await attempt(apps[1], first, member.email, PASSWORD)) == "locked out"
        seen = [outcome(await attempt(app, second, member.email, WRONG)) for app in apps]
        assert seen == ["INVALID_CREDENTIALS", "back off"]
        for app in apps:
            assert outcome(await attempt(app, owner, member.email, PASSWORD)) == "signed in"
