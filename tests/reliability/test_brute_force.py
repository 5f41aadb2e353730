"""Brute force on the token exchange (DESIGN §4 "Abuse"): 1,000 wrong secrets for one key.

Short windows make the lock-out observable in seconds: 10 failures per 2 s per key and
address; the per-address long limit is raised so the short one governs.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from fluide.app import App
from fluide.identity import formats
from fluide.identity.models import AuditEvent
from tests.conftest import Dev
from tests.reliability.report import COUNTS

TOKEN = "/api/v1/authorize/token"
ATTEMPTS = 1000
LIMIT, WINDOW = 10, 2
# Counts of what the attack produced, read by the final report (docs/reliability.md).


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "exchange_failure_limit": f"{LIMIT}/{WINDOW} seconds",
        "exchange_failure_limit_long": "1000000/hour",
    }


def client_from(app: App, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def denied_audit_counts(rt: App, ip: str) -> Counter[str]:
    async with rt.infra.sessionmaker() as session:
        rows = await session.execute(
            select(AuditEvent.code, func.count())
            .where(
                AuditEvent.action == "token.exchange",
                AuditEvent.outcome == "denied",
                AuditEvent.source_ip == ip,
            )
            .group_by(AuditEvent.code)
        )
        return Counter({str(code): int(n) for code, n in rows})


@pytest.mark.slow
async def test_thousand_wrong_secrets_lock_out_then_recover(
    app: App, runtime: App, dev: Dev
) -> None:
    attacker_ip = "203.0.113.7"
    codes: list[str] = []
    first_429: int | None = None
    started = time.monotonic()
    async with client_from(app, attacker_ip) as attacker:
        for i in range(ATTEMPTS):
            wrong = formats.new_api_secret()  # well-formed, checksummed, wrong
            resp = await attacker.post(TOKEN, headers=dev.exchange_headers(secret=wrong))
            assert resp.status_code in (401, 429), resp.text
            code = resp.json()["code"]
            codes.append(code)
            if resp.status_code == 429:
                assert code == "RATE_LIMITED"
                assert int(resp.headers["Retry-After"]) >= 1
                if first_429 is None:
                    first_429 = i
            else:
                assert code == "DEVELOPER_KEYS_INVALID"
        elapsed = time.monotonic() - started

        counted = Counter(codes)
        # Locked out after exactly LIMIT failures, long before the end.
        assert first_429 == LIMIT
        # While locked, failures stop counting: at most LIMIT per window that elapsed.
        windows = math.ceil(elapsed / WINDOW) + 1
        assert counted["DEVELOPER_KEYS_INVALID"] <= LIMIT * windows
        assert counted["RATE_LIMITED"] >= ATTEMPTS - LIMIT * windows

        # The lock refuses failures only: the real secret still exchanges from the locked
        # address (DESIGN §3.2, issue 14: whoever lacks the secret cannot deny its owner)...
        ok = await attacker.post(TOKEN, headers=dev.exchange_headers())
        assert ok.status_code == 200, ok.text
        # ...and from another address.
        async with client_from(app, "198.51.100.20") as other:
            resp = await other.post(TOKEN, headers=dev.exchange_headers())
            assert resp.status_code == 200, resp.text

        # The lock-out ends by itself, within a window or two: a wrong secret is a 401 again.
        deadline = time.monotonic() + 4 * WINDOW + 5
        while True:
            wrong = formats.new_api_secret()
            resp = await attacker.post(TOKEN, headers=dev.exchange_headers(secret=wrong))
            codes.append(resp.json()["code"])
            if resp.status_code == 401:
                assert codes[-1] == "DEVELOPER_KEYS_INVALID"
                break
            assert resp.status_code == 429, resp.text
            assert time.monotonic() < deadline, "lock-out did not end by itself"
            await asyncio.sleep(min(1.0, int(resp.headers["Retry-After"])))

    # Every failure is in the audit log, with its code, from the attacker's address.
    audited = await denied_audit_counts(runtime, attacker_ip)
    observed = Counter(codes)
    assert audited == observed
    assert audited["DEVELOPER_KEYS_INVALID"] + audited["RATE_LIMITED"] == len(codes) >= ATTEMPTS
    COUNTS["brute_force_attempts"] += len(codes)
    COUNTS["brute_force_audited_denials"] += sum(audited.values())
    COUNTS["brute_force_rate_limited"] += observed["RATE_LIMITED"]


async def test_concurrent_burst_is_bounded(app: App, runtime: App, dev: Dev) -> None:
    """200 wrong secrets in waves of 20 at once.

    A failure is looked at and counted in turn with the other failures for its key and address
    (tokens._failed), so a wave is counted only up to the limit, the rest of it locked out: at
    most LIMIT failures answered 401 per window, whatever the waves' interleaving.
    """
    ip = "203.0.113.99"
    wave = 20
    started = time.monotonic()
    async with client_from(app, ip) as attacker:

        async def one() -> str:
            wrong = formats.new_api_secret()
            resp = await attacker.post(TOKEN, headers=dev.exchange_headers(secret=wrong))
            assert resp.status_code in (401, 429), resp.text
            return str(resp.json()["code"])

        results: list[str] = []
        for _ in range(10):
            results += await asyncio.gather(*(one() for _ in range(wave)))
    windows = math.ceil((time.monotonic() - started) / WINDOW) + 1
    counted = Counter(results)
    assert counted["RATE_LIMITED"] > 0
    assert counted["DEVELOPER_KEYS_INVALID"] <= LIMIT * windows
    assert await denied_audit_counts(runtime, ip) == counted
