"""The in-memory tenancy view (``identity.tenancy``) and how the change feed keeps it fresh.

The view is the guard's fast path; the slow path is a query on the tables. For any stored
state they agree on every (tenant, workspace, company), on SQLite and PostgreSQL; a change is
seen at once in the process that made it and within a second in another one (pushed through
Redis, with the poll turned down so only the push can explain it)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from fluide.app import App, create_app
from fluide.identity.models import Company, RevocationEvent, Tenant, Workspace
from fluide.identity.revocation import TENANCY_EVENT
from fluide.identity.tenancy import TenancyView
from fluide.kit.clock import system_clock
from fluide.settings import Settings
from tests.conftest import make_settings, redis_or_skip
from tests.identity.partners.support import acting, partner_with_companies

TENANTS = ["ten_t1", "ten_t2"]
WORKSPACES = ["wsp_w1", "wsp_w2", "wsp_w3"]
COMPANIES = ["cmp_c1", "cmp_c2", "cmp_c3", "cmp_c4"]

states = st.tuples(
    st.dictionaries(st.sampled_from(WORKSPACES), st.sampled_from(TENANTS)),
    st.dictionaries(
        st.sampled_from(COMPANIES),
        st.tuples(
            st.sampled_from(WORKSPACES),
            st.sampled_from(TENANTS),  # a row whose tenant is not its workspace's: never trusted
            st.sampled_from(["ACTIVE", "SUSPENDED"]),
        ),
    ),
)


async def _store(rt: App, workspaces: dict[str, str], companies: dict[str, Any]) -> None:
    now = system_clock()
    async with rt.infra.sessionmaker() as session, session.begin():
        await session.execute(delete(Company))
        await session.execute(delete(Workspace))
        await session.execute(delete(Tenant).where(Tenant.id.in_(TENANTS)))
        for t in TENANTS:
            session.add(Tenant(id=t, name=t, kind="PARTNER", created_at=now))
        await session.flush()
        for wid, tid in workspaces.items():
            session.add(Workspace(id=wid, tenant_id=tid, name=wid, created_at=now, updated_at=now))
        await session.flush()
        for cid, (wid, tid, status) in companies.items():
            if wid in workspaces:  # the foreign key holds
                session.add(
                    Company(
                        id=cid,
                        tenant_id=tid,
                        workspace_id=wid,
                        name=cid,
                        country_code="NG",
                        currency="NGN",
                        status=status,
                        created_at=now,
                        updated_at=now,
                    )
                )


async def _slow(rt: App, tenant: str, workspace: str, company: str) -> bool:
    """The rule as one query: an active company of a workspace of this tenant."""
    async with rt.infra.sessionmaker() as session:
        found = await session.scalar(
            select(Company.id)
            .join(Workspace, Workspace.id == Company.workspace_id)
            .where(
                Workspace.tenant_id == tenant,
                Company.tenant_id == tenant,
                Company.workspace_id == workspace,
                Company.id == company,
                Company.status == "ACTIVE",
            )
        )
    return found is not None


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(state=states)
async def test_the_view_agrees_with_the_tables(
    runtime: App, state: tuple[dict[str, str], dict[str, Any]]
) -> None:
    await _store(runtime, *state)
    view = TenancyView()
    async with runtime.infra.sessionmaker() as session:
        await view.load(session)
    for t in TENANTS:
        for w in WORKSPACES:
            for c in COMPANIES:
                fast = view.workspace_of(t, w) and view.company_in(w, c)
                assert fast == await _slow(runtime, t, w, c), (t, w, c, state)


async def test_an_event_committed_late_still_reloads_the_view(runtime: App) -> None:
    """A ``tenancy`` event whose id is below one already seen (a PostgreSQL sequence value
    that commits late) is still noticed."""
    feed, state = runtime.identity.feed, runtime.identity.state

    async def event(eid: int, subject: str) -> None:
        async with runtime.infra.sessionmaker() as session, session.begin():
            session.add(
                RevocationEvent(
                    id=eid, kind=TENANCY_EVENT, subject=subject, created_at=system_clock()
                )
            )

    await _store(runtime, {"wsp_w1": "ten_t1"}, {})
    await event(10**6, "wsp_w1")
    await feed.sync_now()
    assert state.tenancy.workspace_of("ten_t1", "wsp_w1")
    await _store(runtime, {"wsp_w2": "ten_t1"}, {})
    await feed.sync_now()
    assert state.tenancy.workspace_of("ten_t1", "wsp_w1")  # no new event: not reloaded
    await event(10**5, "wsp_w2")  # below the highest id seen
    await feed.sync_now()
    assert state.tenancy.workspace_of("ten_t1", "wsp_w2")
    assert not state.tenancy.workspace_of("ten_t1", "wsp_w1")


async def _second_app(settings: Settings, tmp_path: Path) -> App:
    other = make_settings(tmp_path / "b", settings.database_url, redis_url=settings.redis_url)
    await asyncio.to_thread((tmp_path / "b").mkdir)
    return create_app(other)


@pytest.fixture
def settings_overrides(backend: str) -> dict[str, Any]:
    if backend != "postgres":
        return {}
    return {"redis_url": redis_or_skip()}


def _stop_polling(app: App) -> None:
    """Only the Redis push is left to bring a change to this app."""
    for task in app.identity.feed._tasks:
        if task.get_name() == "fluide-sync":
            task.cancel()


@pytest.mark.redis
async def test_deleting_a_company_stops_acting_in_another_process_within_a_second(
    client: httpx.AsyncClient, runtime: App, settings: Settings, tmp_path: Path, backend: str
) -> None:
    if backend != "postgres":
        pytest.skip("two processes share a database on PostgreSQL + Redis")
    _, h, wid, (a, b) = await partner_with_companies(client, runtime)
    other = await _second_app(settings, tmp_path)
    async with other.lifespan():
        _stop_polling(other)
        transport = httpx.ASGITransport(app=other, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c2:
            resp = await c2.get("/api/v1/hr/employees", headers=acting(h, wid, a))
            assert resp.status_code == 200, resp.text
            deleted = await client.delete(f"/api/v1/workspaces/{wid}/companies/{a}", headers=h)
            assert deleted.status_code == 204
            started = time.monotonic()
            while True:
                resp = await c2.get("/api/v1/hr/employees", headers=acting(h, wid, a))
                if resp.status_code == 404:
                    break
                assert time.monotonic() - started < 1.0, "still acting after 1 s"
                await asyncio.sleep(0.02)
            assert resp.json()["code"] == "COMPANY_NOT_FOUND"
            still = await c2.get("/api/v1/hr/employees", headers=acting(h, wid, b))
            assert still.status_code == 200
