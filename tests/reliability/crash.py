"""Crash loops: run a workload against real server processes, ``kill -9`` them, restart, verify.

A *scenario* owns the workload and the invariants; ``kill_loop`` owns the killing. Rotations
are the first scenario (``RotationScenario``); payroll disbursement is the second
(``DisbursementScenario``: its workers disburse with idempotency keys, its ``verify`` checks
that no payslip was paid twice and that wallet balance = ledger balance). The ledger every
scenario keeps is the *client's* view: what was acknowledged (a 2xx received), what is unknown
(the connection died mid-request), and which request ids those were, so the audit log can be
held to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

import httpx
from sqlalchemy import select

from fluide.app import App
from fluide.identity.models import AuditEvent
from fluide.products.books.models import JournalEntry
from fluide.products.pay.models import Payout
from tests.conftest import CLIENT_ID, Dev
from tests.reliability.leaks import register_from_json, register_secret
from tests.reliability.server import ServerProcess

TOKEN = "/api/v1/authorize/token"
ROTATE = "/api/v1/authorize/rotate-secret"


@dataclass
class Outcome:
    """One request as the client saw it: a response, or an unknown fate."""

    request_id: str
    response: httpx.Response | None  # None: the connection failed after sending (unknown)
    refused: bool = False  # the connection was refused: certainly never processed
    error: str = ""  # for an unknown outcome: what failed, for the test's message


# Methods a client may repeat without changing what the server holds (RFC 9110 §9.2.2).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class _Trace:
    """httpcore trace events of one request: was a connection opened, did a response start."""

    def __init__(self) -> None:
        self.events: list[str] = []

    async def __call__(self, name: str, info: dict[str, Any]) -> None:
        self.events.append(name)

    @property
    def reused(self) -> bool:
        return not any(e.startswith("connection.connect_tcp") for e in self.events)

    def stale_connection(self, exc: httpx.TransportError) -> bool:
        """The request went out on a reused keep-alive connection that the server had closed.

        The server closes a connection idle for its keep-alive timeout (uvicorn: 5 s) and
        discards what arrives on it after that moment, unread: the client sees the connection
        end (``RemoteProtocolError`` "without sending a response") or reset (``ReadError`` /
        ``WriteError``) before the response head. On a *fresh* connection, or after a
        response started, or on a timeout, nothing can be concluded: not stale.
        """
        if not self.reused or "http11.receive_response_headers.complete" in self.events:
            return False
        if isinstance(exc, httpx.RemoteProtocolError):
            return "without sending a response" in str(exc)
        return isinstance(exc, httpx.ReadError | httpx.WriteError)


@dataclass
class Tally:
    requests: int = 0
    unknown: int = 0
    refused: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    five_xx: list[str] = field(default_factory=list)
    # What each unknown outcome was (exception type, message, fresh or reused connection).
    unknowns: list[str] = field(default_factory=list)
    # Requests resent because a reused keep-alive connection was closed by the server before
    # it read them (see ``send``); counted apart, never folded into ``requests`` twice.
    stale_retries: list[str] = field(default_factory=list)

    def add(self, outcome: Outcome, what: str) -> None:
        self.requests += 1
        if outcome.refused:
            self.refused += 1
        elif outcome.response is None:
            self.unknown += 1
            self.unknowns.append(f"{what}: {outcome.error}")
        else:
            status = outcome.response.status_code
            self.statuses[status] += 1
            if status >= 500:
                self.five_xx.append(f"{what}: {status} {outcome.response.text[:200]}")


async def send(
    client: httpx.AsyncClient,
    tally: Tally,
    what: str,
    method: str,
    url: str,
    *,
    retry_stale: bool = False,
    **kw: Any,
) -> Outcome:
    """One request with its own request id; connection failures become outcomes, not errors.

    With ``retry_stale``, a request that met a stale keep-alive connection (``_Trace``) is
    sent once more on a fresh one, only when repeating it is harmless anyway: an idempotent
    method, or an ``Idempotency-Key`` (the server replays, never redoes). Each such resend is
    recorded in ``tally.stale_retries``. The crash loops leave it off: there a dead
    connection is the server being killed, which is what they count.
    """
    rid = uuid.uuid4().hex
    headers = {**kw.pop("headers", {}), "X-Request-Id": rid}
    repeatable = method.upper() in IDEMPOTENT_METHODS or any(
        k.lower() == "idempotency-key" for k in headers
    )
    attempts = 2 if retry_stale and repeatable else 1
    for attempt in range(1, attempts + 1):
        trace = _Trace()
        try:
            resp = await client.request(
                method, url, headers=headers, extensions={"trace": trace}, **kw
            )
        except httpx.ConnectError:
            outcome = Outcome(rid, None, refused=True)
        except httpx.TransportError as exc:
            conn = "reused" if trace.reused else "fresh"
            error = f"{type(exc).__name__} on a {conn} connection: {exc}"
            if attempt < attempts and trace.stale_connection(exc):
                tally.stale_retries.append(f"{what}: {error}")
                continue
            outcome = Outcome(rid, None, error=error)
        else:
            if resp.headers.get("content-type", "").startswith("application/json"):
                register_from_json(resp.json())
            outcome = Outcome(rid, resp)
        break
    tally.add(outcome, what)
    return outcome


class Scenario(Protocol):
    tally: Tally

    async def worker(
        self, n: int, clients: Sequence[httpx.AsyncClient], stop: asyncio.Event
    ) -> None:
        """Run until ``stop`` is set; survive the servers going away and coming back."""

    async def verify(self, clients: Sequence[httpx.AsyncClient], rt: App) -> dict[str, Any]:
        """Check the invariants once every server is up again; return counts for the report."""


@dataclass
class KillReport:
    kills: int
    seconds: float


async def kill_loop(
    servers: Sequence[ServerProcess],
    scenario: Scenario,
    *,
    kills: int,
    workers: int,
    rng: random.Random,
    between: tuple[float, float] = (0.5, 1.5),
) -> KillReport:
    """Workers run throughout; ``kills`` times, one server is SIGKILLed and restarted."""
    started = time.monotonic()
    stop = asyncio.Event()
    limits = httpx.Limits(max_connections=workers * 2)
    clients = [httpx.AsyncClient(base_url=s.base_url, timeout=15.0, limits=limits) for s in servers]
    try:
        tasks = [asyncio.create_task(scenario.worker(n, clients, stop)) for n in range(workers)]
        done = 0
        aim = getattr(scenario, "aim", None)  # optional: wait for a moment worth killing in
        for _ in range(kills):
            await asyncio.sleep(rng.uniform(*between))
            if aim is not None:
                await aim()
            victim = rng.choice(list(servers))
            victim.kill9()
            done += 1
            await asyncio.to_thread(victim.start)
        await asyncio.sleep(between[0])
        stop.set()
        await asyncio.gather(*tasks)
        return KillReport(done, time.monotonic() - started)
    finally:
        stop.set()
        for c in clients:
            await c.aclose()


# ---- rotations -------------------------------------------------------------------------------


@dataclass
class Rotation:
    request_id: str
    secret: str
    grace: int


@dataclass
class CredentialLedger:
    """What the clients know about one credential: every secret seen, newest last."""

    dev: Dev
    secrets: list[str]
    acked: dict[str, Rotation] = field(default_factory=dict)  # request id → rotation
    unknown: set[str] = field(default_factory=set)  # rotation request ids with no answer
    orphaned: bool = False  # every secret we know stopped working (a lost grace-0 answer)
    in_flight: int = 0  # rotations sent and not answered yet


class RotationScenario:
    """Workers rotate secrets (two workers per credential, so rotations race on the row lock)."""

    def __init__(
        self, devs: Sequence[Dev], rng: random.Random, grace_zero_share: float = 0.2
    ) -> None:
        self.ledgers = [CredentialLedger(d, [d.api_secret]) for d in devs]
        self.rng = rng
        self.grace_zero_share = grace_zero_share
        self.tally = Tally()
        self.exchanges_acked: set[str] = set()
        self.rotations_tried = 0

    async def _token(
        self, client: httpx.AsyncClient, ledger: CredentialLedger, stop: asyncio.Event
    ) -> str | None:
        """A token from the newest secret that still exchanges; waits out a dead server."""
        while not stop.is_set():
            answered = False
            known = len(ledger.secrets)
            for secret in reversed(ledger.secrets[:known]):
                out = await send(
                    client,
                    self.tally,
                    "exchange",
                    "POST",
                    TOKEN,
                    headers=ledger.dev.exchange_headers(secret=secret),
                )
                if out.response is None:
                    break  # server down: wait and start again
                answered = True
                if out.response.status_code == 200:
                    self.exchanges_acked.add(out.request_id)
                    return str(out.response.json()["accessToken"])
            else:
                # Nothing we know works. Unless a rotation is still in flight (its answer
                # brings the new secret), a grace-0 rotation's answer was lost: give up.
                if answered and ledger.in_flight == 0 and len(ledger.secrets) == known:
                    ledger.orphaned = True
                    return None
            await asyncio.sleep(0.1)
        return None

    async def worker(
        self, n: int, clients: Sequence[httpx.AsyncClient], stop: asyncio.Event
    ) -> None:
        ledger = self.ledgers[n % len(self.ledgers)]
        while not stop.is_set() and not ledger.orphaned:
            client = self.rng.choice(list(clients))
            token = await self._token(client, ledger, stop)
            if token is None:
                return
            grace = 0 if self.rng.random() < self.grace_zero_share else 3600
            self.rotations_tried += 1
            ledger.in_flight += 1
            try:
                out = await self._rotate(client, ledger, token, grace)
            finally:
                ledger.in_flight -= 1
            if out.response is None:
                if not out.refused:
                    ledger.unknown.add(out.request_id)
                await asyncio.sleep(0.1)
                continue
            if out.response.status_code == 200:
                continue
            if out.response.status_code == 401:
                # The other worker's grace-0 rotation revoked our token first: try again.
                assert out.response.json()["code"] == "TOKEN_REVOKED", out.response.text
            else:
                raise AssertionError(f"rotation answered {out.response.status_code}")

    async def _rotate(
        self, client: httpx.AsyncClient, ledger: CredentialLedger, token: str, grace: int
    ) -> Outcome:
        out = await send(
            client,
            self.tally,
            "rotate",
            "POST",
            ROTATE,
            headers={
                "Authorization": f"Bearer {token}",
                "X-Fluide-Client-Id": CLIENT_ID,
                "X-Fluide-Api-Key": ledger.dev.api_key,
            },
            json={"graceSeconds": grace},
        )
        if out.response is not None and out.response.status_code == 200:
            # Record the secret before anyone else looks at the ledger.
            secret = str(out.response.json()["apiSecret"])
            register_secret(secret)
            ledger.acked[out.request_id] = Rotation(out.request_id, secret, grace)
            ledger.secrets.append(secret)
        return out

    async def verify(self, clients: Sequence[httpx.AsyncClient], rt: App) -> dict[str, Any]:
        client = clients[0]
        probes = 0
        for ledger in self.ledgers:
            async with rt.infra.sessionmaker() as session:
                rows = (
                    await session.scalars(
                        select(AuditEvent).where(
                            AuditEvent.action == "credential.rotate_secret",
                            AuditEvent.credential_id == ledger.dev.credential_id,
                        )
                    )
                ).all()
            audited = {str(r.request_id): r for r in rows}
            # Acknowledged ⇒ present; present ⇒ acknowledged or unknown (no phantom rotation).
            missing = set(ledger.acked) - set(audited)
            assert not missing, (
                f"{len(missing)} acknowledged rotation(s) missing from the audit log"
            )
            phantom = set(audited) - set(ledger.acked) - ledger.unknown
            assert not phantom, f"{len(phantom)} audited rotation(s) nobody asked for"
            assert all(r.outcome == "success" for r in rows)

            # The secret each generation got, where the client learned it.
            by_generation: dict[int, tuple[str | None, int]] = {1: (ledger.dev.api_secret, 0)}
            for rid, row in audited.items():
                details = row.details or {}
                gen, grace = int(details["generation"]), int(details["graceSeconds"])
                assert gen not in by_generation, "two rotations produced one generation"
                rotation = ledger.acked.get(rid)
                by_generation[gen] = (rotation.secret if rotation else None, grace)
            top = max(by_generation)
            assert sorted(by_generation) == list(range(1, top + 1)), "a generation is missing"
            expected = {by_generation[top][0]}
            if by_generation[top][1] > 0:  # within the grace window the previous one works too
                expected.add(by_generation[top - 1][0])
            expected.discard(None)

            valid = set()
            for secret in set(ledger.secrets):
                probes += 1
                resp = await client.post(TOKEN, headers=ledger.dev.exchange_headers(secret=secret))
                assert resp.status_code in (200, 401), resp.text
                if resp.status_code == 200:
                    valid.add(secret)
            assert valid == expected, (
                f"{len(valid)} secret(s) valid, expected {len(expected)} "
                f"(generation {top}, grace {by_generation[top][1]})"
            )
            assert len(valid) <= 2

        async with rt.infra.sessionmaker() as session:
            exchange_rids = set(
                (
                    await session.scalars(
                        select(AuditEvent.request_id).where(
                            AuditEvent.action == "token.exchange",
                            AuditEvent.outcome == "success",
                        )
                    )
                ).all()
            )
        assert self.exchanges_acked <= exchange_rids, "an acknowledged exchange is not audited"
        assert not self.tally.five_xx, self.tally.five_xx[:5]
        return {
            "rotations_tried": self.rotations_tried,
            "rotations_acked": sum(len(ledger.acked) for ledger in self.ledgers),
            "rotations_unknown": sum(len(ledger.unknown) for ledger in self.ledgers),
            "exchanges_acked": len(self.exchanges_acked),
            "orphaned_credentials": sum(ledger.orphaned for ledger in self.ledgers),
            "probes": probes,
            "requests": self.tally.requests,
        }


# ---- payroll disbursement ------------------------------------------------------------------

PAYOUTS = "/api/v1/pay/payouts"
FINAL = ("SUCCEEDED", "FAILED")
FAILING_SUFFIX = "0000"


@dataclass
class RunLedger:
    """One approved payroll run as the clients saw its disbursement."""

    run_id: str
    payslip_ids: set[str]
    net_total: Decimal
    acked: dict[str, set[str]] = field(default_factory=dict)  # key → payout ids answered
    already: set[str] = field(default_factory=set)  # keys answered PAYROLL_RUN_ALREADY_DISBURSED
    attempts: int = 0
    refused: int = 0  # connection refused (the server was down): certainly not processed
    unknown: int = 0  # connection died after sending (the outcome was unknown)
    in_progress: int = 0  # IDEMPOTENCY_REQUEST_IN_PROGRESS answers (a killed claim, waited out)


class DisbursementScenario:
    """Workers disburse approved payroll runs with Idempotency-Keys while the server is killed.

    Half the workers own a run's main key (``pay-<run>``), the other half a rival key
    (``rival-<run>``), sent a little later: the rival must be told ``PAYROLL_RUN_ALREADY_DISBURSED``
    unless it won, and then the main key is. Every unknown outcome (connection refused or cut)
    and every ``IDEMPOTENCY_REQUEST_IN_PROGRESS`` is retried with the same key until a
    definitive answer. The server's own settlement worker runs in the killed process, so kills
    land mid-settlement too.
    """

    def __init__(
        self,
        tenant_id: str,
        headers: dict[str, str],
        runs: Sequence[RunLedger],
        funded: Decimal,
        rng: random.Random,
        pace: tuple[float, float] = (0.2, 1.0),
        deadline_seconds: float = 120.0,
    ) -> None:
        self.tenant_id = tenant_id
        self.headers = headers
        self.runs = list(runs)
        self.funded = funded
        self.rng = rng
        self.pace = pace
        self.deadline_seconds = deadline_seconds
        self.tally = Tally()
        self.in_flight = 0
        self.busy = asyncio.Event()  # set while a disbursement is in flight
        self.aimed = 0

    async def aim(self) -> None:
        """Before a kill: wait (briefly) for a disbursement in flight, so kills land mid-request."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.busy.wait(), 2.0)
        if self.in_flight:
            self.aimed += 1
            await asyncio.sleep(self.rng.uniform(0.0, 0.02))

    async def worker(
        self, n: int, clients: Sequence[httpx.AsyncClient], stop: asyncio.Event
    ) -> None:
        del stop  # a worker finishes its runs whatever the kill loop does (bounded below)
        half = 2  # workers 0-1: main keys; 2-3: rival keys
        rival = n >= half
        mine = [r for i, r in enumerate(self.runs) if i % half == n % half]
        for ledger in mine:
            await asyncio.sleep(self.rng.uniform(*self.pace) + (0.05 if rival else 0.0))
            key = f"{'rival' if rival else 'pay'}-{ledger.run_id}"
            await self._disburse(clients, ledger, key)

    async def _disburse(
        self, clients: Sequence[httpx.AsyncClient], ledger: RunLedger, key: str
    ) -> None:
        deadline = time.monotonic() + self.deadline_seconds
        while True:
            assert time.monotonic() < deadline, f"no definitive answer for {key}"
            ledger.attempts += 1
            self.in_flight += 1
            self.busy.set()
            try:
                out = await send(
                    self.rng.choice(list(clients)),
                    self.tally,
                    "disburse",
                    "POST",
                    f"/api/v1/pay/payroll-runs/{ledger.run_id}/disburse",
                    headers={**self.headers, "Idempotency-Key": key},
                )
            finally:
                self.in_flight -= 1
                if not self.in_flight:
                    self.busy.clear()
            if out.response is None:
                if out.refused:
                    ledger.refused += 1
                else:
                    ledger.unknown += 1
                await asyncio.sleep(0.1)
                continue
            status, body = out.response.status_code, out.response.json()
            if status == 201:
                assert body["runId"] == ledger.run_id
                ledger.acked[key] = {p["id"] for p in body["payouts"]}
                return
            code = body.get("code")
            if status == 409 and code == "PAYROLL_RUN_ALREADY_DISBURSED":
                ledger.already.add(key)
                return
            if status == 409 and code == "IDEMPOTENCY_REQUEST_IN_PROGRESS":
                ledger.in_progress += 1
                await asyncio.sleep(0.2)
                continue
            raise AssertionError(f"disburse answered {status} {code}")

    async def _settled(self, rt: App, tenant_id: str, limit: float = 90.0) -> list[Payout]:
        """Every payout of the tenant once none is PENDING or PROCESSING (the server settles)."""
        deadline = time.monotonic() + limit
        while True:
            async with rt.infra.sessionmaker() as session:
                payouts = list(
                    (await session.scalars(select(Payout).where(Payout.tenant_id == tenant_id)))
                    .unique()
                    .all()
                )
            if all(p.status in FINAL for p in payouts):
                return payouts
            assert time.monotonic() < deadline, "settlement did not finish after the kills"
            await asyncio.sleep(0.2)

    async def verify(self, clients: Sequence[httpx.AsyncClient], rt: App) -> dict[str, Any]:
        client = clients[0]
        tenant_id = self.tenant_id
        payouts = await self._settled(rt, tenant_id)
        by_run: dict[str | None, list[Payout]] = {}
        for p in payouts:
            by_run.setdefault(p.payroll_run_id, []).append(p)
        assert set(by_run) == {r.run_id for r in self.runs}, "a payout outside the runs"
        for ledger in self.runs:
            mine = by_run[ledger.run_id]
            # One payout per payslip: none paid twice, none missing.
            slips = [p.payslip_id for p in mine]
            assert len(slips) == len(set(slips)), "a payslip was paid twice"
            assert set(slips) == ledger.payslip_ids
            assert sum(p.amount for p in mine) == ledger.net_total
            # Exactly one disbursement was acknowledged (replays carry the same payouts), and
            # it is the one in the database; any other key was told PAYROLL_RUN_ALREADY_DISBURSED.
            answered = {frozenset(ids) for ids in ledger.acked.values()}
            assert answered == {frozenset(p.id for p in mine)}, "acked payouts differ"
            assert len(ledger.acked) + len(ledger.already) == 2
            for p in mine:
                expected = "FAILED" if p.account_number.endswith(FAILING_SUFFIX) else "SUCCEEDED"
                assert p.status == expected, f"{p.status} for a payout expected {expected}"

        # Every settlement posted once (a re-claimed PROCESSING payout is not posted again).
        async with rt.infra.sessionmaker() as session:
            refs = list(
                (
                    await session.scalars(
                        select(JournalEntry.source_ref).where(
                            JournalEntry.tenant_id == tenant_id, JournalEntry.source == "PAY"
                        )
                    )
                ).all()
            )
        per_payout = Counter(r for r in refs if r in {p.id for p in payouts})
        assert set(per_payout) == {p.id for p in payouts}
        assert set(per_payout.values()) == {1}, "a payout was posted to the ledger twice"

        paid = sum((p.amount for p in payouts if p.status == "SUCCEEDED"), Decimal(0))
        refunded = sum((p.amount for p in payouts if p.status == "FAILED"), Decimal(0))
        resp = await client.get("/api/v1/pay/wallets", headers=self.headers)
        assert resp.status_code == 200, resp.text
        (wallet,) = [w for w in resp.json()["items"] if w["currency"] == "NGN"]
        balance = Decimal(wallet["balance"])
        assert balance == self.funded - paid, "wallet ≠ funded − paid (a refund lost or doubled)"
        resp = await client.get("/api/v1/books/trial-balance?currency=NGN", headers=self.headers)
        assert resp.status_code == 200, resp.text
        tb = resp.json()
        assert tb["balanced"] is True
        (totals,) = tb["totals"]
        assert totals["debit"] == totals["credit"]
        acct = {line["accountCode"]: line for line in tb["lines"]}
        assert Decimal(acct["1100"]["balance"]) == balance, "wallet ≠ Books wallet account"
        assert Decimal(acct["1150"]["balance"]) == 0, "money left in transit"
        assert not self.tally.five_xx, self.tally.five_xx[:5]
        return {
            "runs": len(self.runs),
            "disburse_attempts": sum(r.attempts for r in self.runs),
            "disburse_refused": sum(r.refused for r in self.runs),
            "disburse_unknown": sum(r.unknown for r in self.runs),
            "kills_mid_disburse": self.aimed,
            "disburse_in_progress": sum(r.in_progress for r in self.runs),
            "rivals_refused": sum(len(r.already) for r in self.runs),
            "payouts_checked": len(payouts),
            "payouts_failed_refunded": sum(p.status == "FAILED" for p in payouts),
            "payouts_reclaimed": sum(p.attempts > 1 for p in payouts),
            "refunded": str(refunded),
            "requests": self.tally.requests,
        }


async def verify_after(
    servers: Sequence[ServerProcess], scenario: Scenario, rt: App
) -> dict[str, Any]:
    """Run the scenario's checks through fresh clients once every server is up."""
    clients = [httpx.AsyncClient(base_url=s.base_url, timeout=15.0) for s in servers]
    try:
        return await scenario.verify(clients, rt)
    finally:
        for c in clients:
            await c.aclose()
