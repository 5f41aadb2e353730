"""The client's address behind proxies, over HTTP against the real app (DESIGN §5, issue 14
finding 4): a client that forges ``X-Forwarded-For`` never changes the address its limits,
lock-outs and audit rows are counted under, with no proxy, 1 or 2 trusted hops, and trusted
networks (IPv4 and IPv6), on SQLite and PostgreSQL, in memory and on a shared Redis."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from fluide.app import App, create_app
from fluide.gateway.limiter import ProductLimiter
from fluide.identity import formats
from fluide.identity.models import AuditEvent, Credential
from fluide.kit.clock import FrozenClock
from tests.client.support import live_server
from tests.conftest import Dev, create_dev, make_settings, redis_or_skip

TOKEN = "/api/v1/authorize/token"
SIGNIN = "/api/v1/auth/signin"
HEALTH = "/api/v1/hr/health"


@dataclass(frozen=True)
class Setup:
    """A deployment: its setting, and the proxies a request passes (outermost first; none:
    clients reach the service directly)."""

    name: str
    settings: dict[str, Any]
    proxies: tuple[str, ...] = ()
    ipv6: bool = False
    redis: bool = False
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def new_client(self) -> str:
        """A fresh client address (fresh: limits on a shared Redis outlive a test)."""
        if self.ipv6:
            return f"2001:db8::{self.rng.randrange(1, 0xFFFF):x}:{self.rng.randrange(1, 0xFFFF):x}"
        return f"198.18.{self.rng.randrange(256)}.{self.rng.randrange(1, 255)}"

    def wire(
        self, client: str, forged: str | None, *, split: bool = False
    ) -> tuple[tuple[str, int], list[tuple[str, str]]]:
        """The socket peer and X-Forwarded-For headers a request from ``client`` reaches us with,
        when the client itself sent ``forged``: each proxy appends its own peer's address (the
        first the client's; as one header, or ``split`` into a header per writer)."""
        if not self.proxies:
            return (client, 40000), [] if forged is None else [("X-Forwarded-For", forged)]
        first = f"[{client}]:4711" if ":" in client else client
        appended = [first, *self.proxies[:-1]]
        writers = ([] if forged is None else [forged]) + appended
        if split:
            headers = [("X-Forwarded-For", value) for value in writers]
        else:
            headers = [("X-Forwarded-For", ", ".join(writers))]
        return (self.proxies[-1], 443), headers


SETUPS = [
    Setup("no-proxy", {}),
    Setup("zero-hops", {"trusted_proxies": "0"}),
    Setup("legacy-boolean", {"trust_forwarded_for": True}, proxies=("127.0.0.10",)),
    Setup("one-hop", {"trusted_proxies": "1"}, proxies=("127.0.0.10",)),
    Setup("two-hops", {"trusted_proxies": "2"}, proxies=("192.0.2.10", "127.0.0.10")),
    Setup(
        "networks",
        {"trusted_proxies": "10.0.0.0/8,127.0.0.1"},
        proxies=("10.0.0.5", "127.0.0.1"),
    ),
    Setup(
        "networks-ipv6", {"trusted_proxies": "::1,fd00::/8"}, proxies=("fd00::5", "::1"), ipv6=True
    ),
    # Clients that reach the service directly while proxies are configured: their header is
    # not believed, since the peer is no trusted proxy.
    Setup("networks-direct-client", {"trusted_proxies": "10.0.0.0/8"}),
    Setup("two-hops-redis", {"trusted_proxies": "2"}, ("192.0.2.10", "127.0.0.10"), redis=True),
]


@pytest.fixture(params=SETUPS, ids=lambda s: s.name)
def setup(request: pytest.FixtureRequest) -> Setup:
    setup: Setup = request.param
    return setup


@pytest.fixture
def settings_overrides(setup: Setup) -> dict[str, Any]:
    overrides = {
        **setup.settings,
        "exchange_failure_limit": "2/10minutes",
        "signin_limit": "3/hour",
    }
    if setup.redis:
        overrides["redis_url"] = redis_or_skip()
    return overrides


@asynccontextmanager
async def calling(
    app: App, setup: Setup, client: str, forged: str | None, *, split: bool = False
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client whose requests reach the app as ``client``'s do through ``setup``."""
    peer, headers = setup.wire(client, forged, split=split)
    transport = httpx.ASGITransport(app=app, client=peer, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=headers
    ) as http:
        yield http


def forgeries(setup: Setup, victim: str) -> list[str]:
    """What an attacker writes: the victim's address, a trusted proxy's, junk, many entries."""
    return [
        victim,
        f"{victim}, {setup.new_client()}",
        f"{setup.new_client()}, 10.0.0.7, 127.0.0.1, ::1, fd00::9",
        "unknown, , [::1]:80",
        ", ".join(setup.new_client() for _ in range(50)),
    ]


async def _audit(rt: App) -> list[AuditEvent]:
    async with rt.infra.sessionmaker() as session:
        return list((await session.scalars(select(AuditEvent).order_by(AuditEvent.id))).all())


async def test_audit_rows_carry_the_real_address(
    app: App, runtime: App, dev: Dev, setup: Setup
) -> None:
    me, victim = setup.new_client(), setup.new_client()
    before = {e.id for e in await _audit(runtime)}
    for i, forged in enumerate([None, *forgeries(setup, victim)]):
        # A wrong secret for a key of its own each time: no lock-out gets in the way.
        unknown_key = {**dev.exchange_headers(), "X-Fluide-Api-Key": formats.new_api_key()}
        async with calling(app, setup, me, forged, split=i % 2 == 1) as http:
            wrong = await http.post(TOKEN, headers=unknown_key)
            assert wrong.json()["code"] == "DEVELOPER_KEYS_INVALID"
            ok = await http.post(TOKEN, headers=dev.exchange_headers())
            assert ok.status_code == 200, ok.text
    async with calling(app, setup, me, victim) as http:
        resp = await http.post(SIGNIN, json={"email": "nobody@example.com", "password": "x" * 12})
        assert resp.json()["code"] == "INVALID_CREDENTIALS"
    rows = [e for e in await _audit(runtime) if e.id not in before]
    assert {(e.action, e.outcome) for e in rows} == {
        ("token.exchange", "denied"),
        ("token.exchange", "success"),
        ("account.signin", "denied"),
    }
    assert {e.source_ip for e in rows} == {me}


async def test_exchange_lock_out_follows_the_real_address(app: App, dev: Dev, setup: Setup) -> None:
    """The lock-out after 2 failures (per key and address) is the attacker's, whatever it
    writes, and never the address it claims to be."""
    attacker, victim = setup.new_client(), setup.new_client()
    wrong = dev.exchange_headers("fl_sk_wrong")
    codes = []
    for forged in forgeries(setup, victim):
        async with calling(app, setup, attacker, forged) as http:
            resp = await http.post(TOKEN, headers=wrong)
        codes.append(resp.json()["code"])
        if resp.status_code == 429:
            assert int(resp.headers["retry-after"]) >= 1
    assert codes == ["DEVELOPER_KEYS_INVALID"] * 2 + ["RATE_LIMITED"] * 3
    async with calling(app, setup, victim, attacker) as http:
        assert (await http.post(TOKEN, headers=wrong)).json()["code"] == "DEVELOPER_KEYS_INVALID"
        assert (await http.post(TOKEN, headers=dev.exchange_headers())).status_code == 200


async def test_signin_limit_follows_the_real_address(app: App, setup: Setup) -> None:
    attacker, victim = setup.new_client(), setup.new_client()
    statuses = []
    for i, forged in enumerate(forgeries(setup, victim)):
        async with calling(app, setup, attacker, forged) as http:
            resp = await http.post(
                SIGNIN, json={"email": f"guess-{i}@example.com", "password": "x" * 12}
            )
        statuses.append(resp.status_code)
    assert statuses == [401, 401, 401, 429, 429]
    async with calling(app, setup, victim, attacker) as http:
        resp = await http.post(SIGNIN, json={"email": "guess@example.com", "password": "x" * 12})
    assert resp.status_code == 401


async def _exposed(rt: App, dev: Dev) -> Credential:
    async with rt.infra.sessionmaker() as session:
        cred = await session.get(Credential, dev.credential_id)
        assert cred is not None
        return cred


async def test_exposure_budget_follows_the_real_address(
    app: App, runtime: App, dev: Dev, setup: Setup
) -> None:
    """Exposure checks are budgeted per address: an attacker who spent its own budget cannot
    spend anyone else's by naming them, and the owner's leak is still caught."""
    app.state.gateway.exposure_limiter = ProductLimiter("3/hour")
    attacker, owner = setup.new_client(), setup.new_client()
    leak = {"X-Fluide-Api-Key": dev.api_key, "X-Fluide-Api-Secret": dev.api_secret}
    async with calling(app, setup, attacker, owner) as http:
        for _ in range(3):
            fake = {
                "X-Fluide-Api-Key": formats.new_api_key(),
                "X-Fluide-Api-Secret": formats.new_api_secret(),
            }
            assert (await http.get(HEALTH, headers=fake)).status_code == 400
        assert (await http.get(HEALTH, headers=leak)).status_code == 400
    assert (await _exposed(runtime, dev)).secret_exposed_at is None  # its budget was spent
    async with calling(app, setup, owner, attacker) as http:
        assert (await http.get(HEALTH, headers=leak)).status_code == 400
    assert (await _exposed(runtime, dev)).secret_exposed_at is not None
    (event,) = [e for e in await _audit(runtime) if e.action == "credential.secret_exposed"]
    assert event.source_ip == owner


# ---- several processes on one Redis ------------------------------------------------------------


@pytest.mark.redis
async def test_processes_on_one_redis_count_the_real_address(
    tmp_path: Path, database_url: str, redis_url: str
) -> None:
    """Two processes behind the same two proxies: the attacker's failures on either count
    toward one lock-out, whatever each request claims; the address it claims stays free."""
    setup = next(s for s in SETUPS if s.name == "two-hops")
    overrides = {**setup.settings, "redis_url": redis_url, "exchange_failure_limit": "2/10minutes"}
    apps = [
        create_app(make_settings(tmp_path / name, database_url, **overrides), FrozenClock())
        for name in ("a", "b")
    ]
    async with apps[0].lifespan(), apps[1].lifespan():
        dev = await create_dev(apps[0])
        attacker, victim = setup.new_client(), setup.new_client()
        wrong = dev.exchange_headers("fl_sk_wrong")
        codes = []
        for app, forged in zip(apps * 2, forgeries(setup, victim), strict=False):
            async with calling(app, setup, attacker, forged) as http:
                codes.append((await http.post(TOKEN, headers=wrong)).json()["code"])
        assert codes == ["DEVELOPER_KEYS_INVALID"] * 2 + ["RATE_LIMITED"] * 2
        for app in apps:
            async with calling(app, setup, victim, attacker) as http:
                resp = await http.post(TOKEN, headers=wrong)
                assert resp.json()["code"] == "DEVELOPER_KEYS_INVALID"


# ---- a real socket -----------------------------------------------------------------------------


def test_over_a_real_socket_only_the_trusted_peer_is_believed(
    tmp_path: Path, database_url: str
) -> None:
    """uvicorn on 127.0.0.1 (proxy headers off, as ``fluide serve`` runs it), a proxy at
    127.0.0.3: its X-Forwarded-For is believed; the same header from 127.0.0.4 is not."""
    settings = make_settings(tmp_path, database_url, trusted_proxies="127.0.0.3")
    with live_server(settings, proxy_headers=False) as server:
        dev = server.run(create_dev(server.runtime))
        for source in ("127.0.0.3", "127.0.0.4"):
            transport = httpx.HTTPTransport(local_address=source)
            with httpx.Client(transport=transport, base_url=server.base_url, timeout=10) as http:
                resp = http.post(
                    TOKEN,
                    headers={**dev.exchange_headers(), "X-Forwarded-For": "6.6.6.6, 198.18.0.9"},
                )
                assert resp.status_code == 200, resp.text
        rows = server.run(_audit(server.runtime))
    assert [e.source_ip for e in rows if e.action == "token.exchange"] == [
        "198.18.0.9",
        "127.0.0.4",
    ]
