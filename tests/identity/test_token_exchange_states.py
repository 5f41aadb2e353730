"""The token exchange as a state machine (hypothesis), over HTTP against the real app.

Credentials are created, exchanged (the snapshot warm or cold), rotated with and without
grace, revoked; the injected clock runs graces out. At every step an arbitrary secret (the
credential's own secrets, live or not, other credentials' secrets, the key itself, prefixes of
the real one, empty, ``fl_sk_decoy``, well-formed strangers, any text) is presented from one of
three client addresses, sometimes with a bogus client id, sometimes with an unknown key.

A model predicts every answer (DESIGN §3.2): only the current secret, and the previous one
while its grace lasts, exchange; a revoked credential's secret is ``CREDENTIAL_REVOKED``;
everything else is a failure, ``401`` until its (key, address) or its address is locked out,
``429`` after, and a lock-out never refuses a secret that verifies. Nothing answers 5xx. The
model also predicts whether the snapshot holds the credential, and a probe on the real cache
checks it, so warm steps really are warm.

On SQLite, and on PostgreSQL with the limits shared through Redis. The app runs in an event
loop of the test's own, because hypothesis' state machines drive it from synchronous rules.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from fluide.app import App, create_app
from fluide.identity import formats
from fluide.identity.credential_cache import CredentialCache
from fluide.kit.clock import FrozenClock
from fluide.settings import Settings
from tests.conftest import redis_or_skip
from tests.identity.support import (
    DECOY,
    CacheProbe,
    Key,
    Owner,
    client_from,
    probing,
    sign_in_owner,
    try_exchange,
)

ADDRESSES = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
KEY_FAILURES, ADDRESS_FAILURES = 2, 5  # lock-outs within reach of a run's steps
GRACES = (0, 30, 60, 300)
STEPS = (1, 29, 30, 31, 61, 301)  # clock advances: both sides of every grace's end
BOGUS_CLIENT = "fluide-admin"


@pytest.fixture
def settings_overrides(backend: str) -> dict[str, Any]:
    values: dict[str, Any] = {
        # Hour-long windows: within a run a failure never ages out, so the model is exact.
        "exchange_failure_limit": f"{KEY_FAILURES}/hour",
        "exchange_failure_limit_long": f"{ADDRESS_FAILURES}/hour",
        "signin_limit": "100000/minute",
    }
    if backend == "postgres":
        values["redis_url"] = redis_or_skip()
    return values


@dataclass
class World:
    """The app and what every run of the machine shares (one app, a fresh owner per run)."""

    loop: asyncio.AbstractEventLoop
    runtime: App
    clock: FrozenClock
    clients: dict[str, httpx.AsyncClient]
    probe: CacheProbe

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)


@dataclass
class Cred:
    """The model of one credential."""

    key: Key
    current: str
    previous: str | None = None
    previous_until: datetime | None = None
    revoked: bool = False
    history: list[str] = field(default_factory=list)

    def which(self, secret: str, now: datetime) -> str | None:
        if secret == self.current:
            return "current"
        in_grace = self.previous_until is not None and now < self.previous_until
        return "previous" if in_grace and secret == self.previous else None


_printable = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=60)
_base62_body = st.text(alphabet=formats.ALPHABET, min_size=44, max_size=44)
_well_formed = _base62_body.map(
    lambda b: formats.SECRET_PREFIX + b + formats.checksum(formats.SECRET_PREFIX, b)
)
_unknown_key = st.one_of(
    _base62_body.map(lambda b: b[:38]).map(
        lambda b: formats.KEY_PREFIX + b + formats.checksum(formats.KEY_PREFIX, b)
    ),
    st.sampled_from(["fl_dev_", "not-a-key", "fl_dev_" + "A" * 38, "x" * 80]),
    _printable,
)


class ExchangeMachine(RuleBasedStateMachine):
    creds = Bundle("creds")

    def __init__(self, world: World) -> None:
        super().__init__()
        self.w = world
        rt = world.runtime
        world.run(rt.infra.limiter.reset())  # every run starts from no failures, as the model does
        rt.identity.state.credential_cache.clear()
        world.probe.take()
        self.owner: Owner = world.run(sign_in_owner(rt, world.clients[ADDRESSES[1]]))
        self.all: list[Cred] = []
        self.key_failures: Counter[tuple[str, str]] = Counter()
        self.address_failures: Counter[str] = Counter()
        self.warm: set[str] = set()  # API keys the snapshot should hold

    # ---- the owner's actions ----------------------------------------------------------------

    @initialize(target=creds)
    def first(self) -> Cred:
        return self._create()

    @rule(target=creds)
    def create(self) -> Cred:
        return self._create()

    def _create(self) -> Cred:
        key = self.w.run(self.owner.create_key())
        cred = Cred(key, key.secret, history=[key.secret])
        self.all.append(cred)
        return cred

    @rule(cred=creds, grace=st.sampled_from(GRACES))
    def rotate(self, cred: Cred, grace: int) -> None:
        resp = self.w.run(
            self.owner.client.post(
                f"/api/v1/auth/credentials/{cred.key.credential_id}/rotate-secret",
                headers={"Authorization": f"Bearer {self.owner.session_token}"},
                json={"graceSeconds": grace},
            )
        )
        if cred.revoked:
            assert (resp.status_code, resp.json()["code"]) == (401, "CREDENTIAL_REVOKED")
            return
        assert resp.status_code == 200, resp.text
        new = resp.json()["apiSecret"]
        now = self.w.clock()
        cred.previous = cred.current if grace else None
        cred.previous_until = now + timedelta(seconds=grace) if grace else None
        cred.current = new
        cred.history.append(new)
        self.warm.discard(cred.key.api_key)  # a change in this process drops the snapshot

    @rule(cred=creds)
    def revoke(self, cred: Cred) -> None:
        self.w.run(self.owner.revoke(cred.key))
        cred.revoked = True
        self.warm.discard(cred.key.api_key)

    @rule(seconds=st.sampled_from(STEPS))
    def time_passes(self, seconds: int) -> None:
        self.w.clock.advance(seconds)

    # ---- anyone's exchanges -----------------------------------------------------------------

    def _secret_for(self, data: st.DataObject, cred: Cred) -> str:
        everyone = [s for c in self.all for s in c.history]
        return data.draw(
            st.one_of(
                st.just(cred.current),
                st.just(cred.current),
                st.sampled_from(cred.history),  # live or not, the old one after its grace
                st.sampled_from(everyone),  # other credentials' secrets too
                st.just(cred.key.api_key),
                st.integers(0, len(cred.current) - 1).map(lambda n: cred.current[:n]),
                st.just(DECOY),
                _well_formed,
                _printable,
            ),
            label="secret",
        )

    @rule(
        cred=creds,
        data=st.data(),
        address=st.sampled_from(ADDRESSES),
        cold=st.sampled_from([False, False, True]),
        client_ok=st.sampled_from([True, True, True, False]),
    )
    def exchange(
        self, cred: Cred, data: st.DataObject, address: str, cold: bool, client_ok: bool
    ) -> None:
        secret = self._secret_for(data, cred)
        self._attempt(cred.key.api_key, cred, secret, address, cold, client_ok)

    @rule(cred=creds, address=st.sampled_from(ADDRESSES))
    def owner_exchanges(self, cred: Cred, address: str) -> None:
        """The owner's own traffic: the current secret, from any address (a lock-out there
        included), with the snapshot as it is."""
        self._attempt(cred.key.api_key, cred, cred.current, address, cold=False, client_ok=True)

    @rule(
        data=st.data(),
        api_key=_unknown_key,
        address=st.sampled_from(ADDRESSES),
        client_ok=st.booleans(),
    )
    def exchange_unknown_key(
        self, data: st.DataObject, api_key: str, address: str, client_ok: bool
    ) -> None:
        everyone = [s for c in self.all for s in c.history]
        secret = data.draw(st.one_of(st.sampled_from(everyone), st.just(DECOY), _well_formed))
        self._attempt(api_key, None, secret, address, cold=False, client_ok=client_ok)

    def _attempt(
        self,
        api_key: str,
        cred: Cred | None,
        secret: str,
        address: str,
        cold: bool,
        client_ok: bool,
    ) -> None:
        rt, probe = self.w.runtime, self.w.probe
        if cold:
            rt.identity.state.credential_cache.clear()
            self.warm.clear()
        probe.take()
        client_id = "fluide-developer" if client_ok else BOGUS_CLIENT
        answer = self.w.run(try_exchange(self.w.clients[address], api_key, secret, client_id))
        expected, looked = self._expect(api_key, cred, secret, address, client_ok)
        assert answer == expected, (answer, expected)
        # Whether the snapshot held the credential is what the model says: a warm step was warm.
        assert probe.take() == ([api_key in self.warm] if looked else [])
        if answer[0] == 200:
            self.warm.add(api_key)

    def _expect(
        self, api_key: str, cred: Cred | None, secret: str, address: str, client_ok: bool
    ) -> tuple[tuple[int, str | None], bool]:
        """(the answer DESIGN §3.2 gives, whether the snapshot is looked at on the way)."""
        if not secret:
            return (400, "VALIDATION_FAILED"), False
        if not client_ok:
            return self._failure(api_key, address, "CLIENT_ID_INVALID"), False
        which = cred.which(secret, self.w.clock()) if cred is not None else None
        if cred is None or which is None:
            return self._failure(api_key, address, "DEVELOPER_KEYS_INVALID"), True
        if cred.revoked:
            return (401, "CREDENTIAL_REVOKED"), True
        return (200, None), True

    def _failure(self, api_key: str, address: str, code: str) -> tuple[int, str | None]:
        window = (api_key[:64], address)
        if (
            self.key_failures[window] >= KEY_FAILURES
            or self.address_failures[address] >= ADDRESS_FAILURES
        ):
            return 429, "RATE_LIMITED"
        self.key_failures[window] += 1
        self.address_failures[address] += 1
        return 401, code

    @invariant()
    def the_snapshot_never_holds_a_revoked_credential(self) -> None:
        cache = self.w.runtime.identity.state.credential_cache
        for cred in self.all:
            if cred.revoked:  # looked at directly: the probe records requests only
                assert CredentialCache.get(cache, cred.key.api_key) is None


async def _start(app: Any, stack: AsyncExitStack) -> dict[str, httpx.AsyncClient]:
    await stack.enter_async_context(app.lifespan())
    return {ip: await stack.enter_async_context(client_from(app, ip)) for ip in ADDRESSES}


def test_only_live_secrets_exchange_in_every_state(settings: Settings, clock: FrozenClock) -> None:
    loop = asyncio.new_event_loop()
    stack = AsyncExitStack()
    app = create_app(settings, clock)
    try:
        clients = loop.run_until_complete(_start(app, stack))
        runtime: App = app
        with probing(runtime, ttl=3600) as probe:
            world = World(loop, runtime, clock, clients, probe)
            run_state_machine_as_test(
                lambda: ExchangeMachine(world),
                settings=settings_for_machine(),
            )
    finally:
        loop.run_until_complete(stack.aclose())
        loop.close()


def settings_for_machine() -> hsettings:
    return hsettings(
        max_examples=15,
        stateful_step_count=40,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
