"""Usage in batches: per-key per-day counts (allowed and denied), per-hour counts per acting
company, and last-used time."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from fluide.app import App, create_app
from fluide.gateway.models import UsageDaily, UsageHourly
from fluide.gateway.usage import usage_summary
from fluide.identity.models import Credential
from fluide.kit.clock import FrozenClock, as_utc
from tests.conftest import Dev, bearer, create_dev, exchange, make_settings
from tests.identity.partners.support import (
    acting,
    new_company,
    new_workspace,
    partner_with_companies,
)
from tests.products.helpers import headers_for

HEALTH = "/api/v1/hr/health"


async def _rows(rt: App, dev: Dev) -> dict[tuple[date, str], int]:
    async with rt.infra.sessionmaker() as session:
        rows = await session.execute(
            select(UsageDaily.day, UsageDaily.code, UsageDaily.count).where(
                UsageDaily.credential_id == dev.credential_id
            )
        )
        return {(day, code): count for day, code, count in rows}


async def test_counts_accumulate_in_memory_and_flush_in_one_batch(
    client: httpx.AsyncClient, runtime: App, dev: Dev, clock: FrozenClock
) -> None:
    gateway = client._transport.app.state.gateway  # type: ignore[attr-defined]
    token = (await exchange(client, dev))["accessToken"]
    other = await create_dev(runtime)
    for _ in range(3):
        assert (await client.get(HEALTH, headers=bearer(token, dev))).status_code == 200
    assert (await client.get(HEALTH, headers=bearer(token, other))).status_code == 401
    narrow = await client.post(
        "/api/v1/authorize/token", headers={**dev.exchange_headers(), "X-Fluide-Scope": "pay:read"}
    )
    resp = await client.get(HEALTH, headers=bearer(narrow.json()["accessToken"], dev))
    assert resp.status_code == 403
    # Nothing reaches the database per request.
    assert await _rows(runtime, dev) == {}
    assert gateway.usage.pending > 0
    assert await gateway.usage.flush() > 0
    today = clock().date()
    assert await _rows(runtime, dev) == {
        (today, ""): 3,
        (today, "API_KEY_MISMATCH"): 1,
        (today, "INSUFFICIENT_SCOPE"): 1,
    }
    async with runtime.infra.sessionmaker() as session:
        cred = await session.get(Credential, dev.credential_id)
        assert cred is not None and cred.last_used_at is not None
        assert as_utc(cred.last_used_at) == clock()
        summary = await usage_summary(session, dev.tenant_id, today)
    assert summary.requests[dev.credential_id][-1] == 3
    assert summary.denials == {"API_KEY_MISMATCH": 1, "INSUFFICIENT_SCOPE": 1}

    # A second batch adds to the same rows (the upsert adds counts) and moves last-used on.
    clock.advance(60)
    for _ in range(2):
        assert (await client.get(HEALTH, headers=bearer(token, dev))).status_code == 200
    await gateway.usage.flush()
    assert (await _rows(runtime, dev))[(today, "")] == 5
    async with runtime.infra.sessionmaker() as session:
        cred = await session.get(Credential, dev.credential_id)
        assert cred is not None and as_utc(cred.last_used_at) == clock()  # type: ignore[arg-type]
    assert await gateway.usage.flush() == 0


async def test_unverified_denials_are_not_counted(
    client: httpx.AsyncClient, runtime: App, dev: Dev
) -> None:
    gateway = client._transport.app.state.gateway  # type: ignore[attr-defined]
    assert (await client.get(HEALTH)).status_code == 401
    assert (await client.get(HEALTH, headers=bearer("a.b.c", dev))).status_code == 401
    assert gateway.usage.pending == 0


async def test_a_failed_flush_keeps_the_counts(
    client: httpx.AsyncClient, runtime: App, dev: Dev, backend: str, tmp_path: Path
) -> None:
    gateway = client._transport.app.state.gateway  # type: ignore[attr-defined]
    token = (await exchange(client, dev))["accessToken"]
    assert (await client.get(HEALTH, headers=bearer(token, dev))).status_code == 200
    live = gateway.usage.sessionmaker
    from sqlalchemy.ext.asyncio import async_sessionmaker

    dead = create_async_engine(
        "postgresql+asyncpg://postgres@127.0.0.1:1/x"
        if backend == "postgres"
        else f"sqlite+aiosqlite:///{tmp_path}/no/such/dir/x.db"
    )
    gateway.usage.sessionmaker = async_sessionmaker(dead)
    try:
        try:
            await gateway.usage.flush()
        except Exception:  # noqa: S110 - the failure itself is what we test
            pass
        else:
            raise AssertionError("flush to a dead database should fail")
    finally:
        gateway.usage.sessionmaker = live
        await dead.dispose()
    await gateway.usage.flush()
    assert sum((await _rows(runtime, dev)).values()) == 1


async def test_usage_is_flushed_on_shutdown(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, usage_flush_seconds=3600)
    app = create_app(settings, FrozenClock())
    transport = httpx.ASGITransport(app=app)
    async with (
        app.lifespan(),
        httpx.AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        dev = await create_dev(app)
        token = (await exchange(client, dev))["accessToken"]
        for _ in range(4):
            assert (await client.get(HEALTH, headers=bearer(token, dev))).status_code == 200
    engine = create_async_engine(settings.resolved_database_url)
    try:
        async with engine.connect() as conn:
            count = await conn.scalar(
                select(UsageDaily.count).where(UsageDaily.credential_id == dev.credential_id)
            )
    finally:
        await engine.dispose()
    assert count == 4


async def _hourly(rt: App, credential_id: str) -> dict[tuple[str, str], int]:
    """The credential's product calls by (acting company, code), summed over hours."""
    found: dict[tuple[str, str], int] = {}
    async with rt.infra.sessionmaker() as session:
        rows = await session.execute(
            select(UsageHourly.company_id, UsageHourly.code, UsageHourly.count).where(
                UsageHourly.credential_id == credential_id, UsageHourly.kind == "request"
            )
        )
        for company, code, count in rows:
            found[company, code] = found.get((company, code), 0) + count
    return found


async def test_hourly_counts_are_per_acting_company(
    client: httpx.AsyncClient, runtime: App
) -> None:
    partner, h, wid, (a, b) = await partner_with_companies(client, runtime)
    _, _, owid, (oa, _) = await partner_with_companies(client, runtime)
    narrow = await headers_for(client, partner, scope="hr:read")
    sent = [
        (acting(h, wid, a), 200),
        (acting(h, wid, a), 200),
        (acting(h, wid, b), 200),
        (h, 200),
        (acting(h, owid, oa), 404),  # another partner's: counted as the caller's own, refused
        (acting(h, wid, oa), 404),
        (acting(narrow, wid, a), 403),
    ]
    for headers, status in sent:
        assert (await client.get(HEALTH, headers=headers)).status_code == status
    await runtime.gateway.usage.flush()
    assert await _hourly(runtime, partner.credential_id) == {
        (a, ""): 2,
        (b, ""): 1,
        ("", ""): 1,
        ("", "WORKSPACE_NOT_FOUND"): 1,
        ("", "COMPANY_NOT_FOUND"): 1,
        ("", "INSUFFICIENT_SCOPE"): 1,
    }  # the other partner's ids never reach the stored counts


# (acting or not) × (a company of the workspace, of another of the partner's workspaces, of
# another partner, suspended, none at all) × (a full or a narrowed token)
CALLS = st.lists(
    st.tuples(
        st.booleans(),
        st.sampled_from(("a", "b", "elsewhere", "theirs", "suspended", "nobody")),
        st.booleans(),
    ),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(calls=CALLS)
async def test_only_a_checked_company_is_ever_counted(
    client: httpx.AsyncClient, runtime: App, calls: list[tuple[bool, str, bool]]
) -> None:
    partner, h, wid, (a, b) = await partner_with_companies(client, runtime)
    _, _, owid, (oa, _) = await partner_with_companies(client, runtime)
    elsewhere = await new_company(client, h, await new_workspace(client, h, "W2"))
    suspended = await new_company(client, h, wid, status="SUSPENDED")
    narrow = await headers_for(client, partner, scope="hr:read")
    ids = {"a": a, "b": b, "elsewhere": elsewhere, "theirs": oa, "suspended": suspended}
    expected: dict[tuple[str, str], int] = {}
    for acts, which, full in calls:
        headers = h if full else narrow
        company = ids.get(which, "cmp_nobody")
        if acts:
            headers = acting(headers, owid if which == "theirs" else wid, company)
        resp = await client.get(HEALTH, headers=headers)
        if not acts:
            key = ("", "")
        elif not full:
            key = ("", "INSUFFICIENT_SCOPE")
        elif which == "theirs":
            key = ("", "WORKSPACE_NOT_FOUND")
        elif which in ("a", "b"):
            key = (company, "")
        else:
            key = ("", "COMPANY_NOT_FOUND")
        assert (resp.status_code == 200) == (key[1] == ""), resp.text
        expected[key] = expected.get(key, 0) + 1
    await runtime.gateway.usage.flush()
    assert await _hourly(runtime, partner.credential_id) == expected
