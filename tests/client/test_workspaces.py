"""``client.workspaces`` and ``client.workspaces.companies`` (src/fluide/client/resources/
workspaces.py) against the real app: a partner tenant's key walks every method, the async
client over ASGI and the sync one over a real socket; a business tenant's key gets the typed
403, and another partner's ids the typed 404, on every method."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fluide.app import App
from fluide.client import (
    AsyncFluideClient,
    FluideClient,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from fluide.client.models import Company, Workspace
from fluide.identity.principal import ACT_AS_SCOPE
from tests.client.scenario import Client, done, every, pages_of
from tests.client.support import LiveServer, Recorder, asgi_recording
from tests.conftest import Dev
from tests.identity.partners.support import create_partner


def async_client(app: App, dev: Dev, recorder: Recorder) -> AsyncFluideClient:
    return AsyncFluideClient(
        "http://testserver",
        dev.api_key,
        dev.api_secret,
        transport=asgi_recording(app, recorder),
        rng=random.Random(7),
    )


async def walk_workspaces(fluide: Client) -> tuple[Workspace, Company]:
    """Every method of both resources; returns a workspace and a company that remain."""
    spaces = fluide.workspaces
    made = [await done(spaces.create(name=f"Clients {i}")) for i in range(3)]
    first = made[0]
    assert isinstance(first, Workspace) and first.name == "Clients 0"
    assert isinstance(first.created_at, datetime) and first.id.startswith("wsp_")
    page = await done(spaces.list(limit=2))
    assert page.total == 3 and len(page.items) == 2
    assert [len(p.items) for p in await pages_of(spaces.list(limit=2))] == [2, 1]
    assert sorted(w.id for w in await every(spaces.list(limit=2))) == sorted(w.id for w in made)
    assert [w.id for w in await every(spaces.list(q="Clients 2"))] == [made[2].id]
    assert await done(spaces.get(first.id)) == first
    renamed = await done(spaces.update(first.id, name="Payroll clients"))
    assert renamed.name == "Payroll clients" and renamed.id == first.id
    assert await done(spaces.delete(made[2].id)) is None
    with pytest.raises(NotFoundError):
        await done(spaces.get(made[2].id))
    company = await _companies(fluide, first.id, made[1].id)
    return renamed, company


async def _companies(fluide: Client, wid: str, other_wid: str) -> Company:
    companies = fluide.workspaces.companies
    acme = await done(companies.create(wid, name="Acme Ltd", country_code="NG", currency="NGN"))
    assert isinstance(acme, Company) and acme.status == "ACTIVE" and acme.workspace_id == wid
    held = await done(
        companies.create(wid, name="Beta", country_code="GH", currency="GHS", status="SUSPENDED")
    )
    assert held.status == "SUSPENDED" and held.country_code == "GH"
    with pytest.raises(ValidationError):
        await done(companies.create(wid, name="Bad", country_code="NG", currency="XXX"))
    assert sorted(c.id for c in await every(companies.list(wid, limit=1))) == sorted(
        [acme.id, held.id]
    )
    assert [c.id for c in await every(companies.list(wid, q="Beta"))] == [held.id]
    assert await every(companies.list(other_wid)) == []
    assert await done(companies.get(wid, acme.id)) == acme
    with pytest.raises(NotFoundError):  # a company is reached only through its own workspace
        await done(companies.get(other_wid, acme.id))
    active = await done(companies.update(wid, held.id, status="ACTIVE", name="Beta Ltd"))
    assert active.status == "ACTIVE" and active.name == "Beta Ltd" and active.currency == "GHS"
    assert await done(companies.delete(wid, held.id)) is None
    with pytest.raises(NotFoundError):
        await done(companies.get(wid, held.id))
    return acme


async def test_a_partner_walks_workspaces_and_companies_async(app: App) -> None:
    partner, recorder = await create_partner(app), Recorder()
    async with async_client(app, partner, recorder) as fluide:
        workspace, company = await walk_workspaces(fluide)
        seen = [w.id async for w in fluide.workspaces.list(limit=1)]  # no await, lazily
        assert len(seen) == 2 and workspace.id in seen
        assert (await fluide.workspaces.companies.get(workspace.id, company.id)).id == company.id
    posts = [c for c in recorder.other_calls if c.method == "POST"]
    keys = [c.headers.get("idempotency-key") for c in posts]
    assert len(posts) >= 6 and all(keys) and len(set(keys)) == len(keys)


async def test_a_partner_walks_workspaces_and_companies_sync(live: LiveServer) -> None:
    partner = live.run(create_partner(live.runtime))
    with FluideClient(live.base_url, partner.api_key, partner.api_secret) as fluide:
        workspace, _ = await walk_workspaces(fluide)
        assert [w.id for w in fluide.workspaces.list(q="Payroll")] == [workspace.id]


def every_method(wid: str, cid: str) -> list[tuple[str, Any]]:
    """(name, call) for each method, given the client's ``workspaces`` resource."""
    return [
        ("workspaces.list", lambda w: w.list()),
        ("workspaces.get", lambda w: w.get(wid)),
        ("workspaces.create", lambda w: w.create(name="Mine now")),
        ("workspaces.update", lambda w: w.update(wid, name="Mine now")),
        ("workspaces.delete", lambda w: w.delete(wid)),
        ("companies.list", lambda w: w.companies.list(wid)),
        ("companies.get", lambda w: w.companies.get(wid, cid)),
        (
            "companies.create",
            lambda w: w.companies.create(wid, name="X", country_code="NG", currency="NGN"),
        ),
        ("companies.update", lambda w: w.companies.update(wid, cid, status="SUSPENDED")),
        ("companies.delete", lambda w: w.companies.delete(wid, cid)),
    ]


async def outcome(name: str, result: Any) -> Any:
    """A list's pager drained (its first page is fetched then), else the awaited result."""
    return await every(result) if name.endswith(".list") else await result


async def _victim(app: App) -> tuple[Dev, str, str]:
    victim = await create_partner(app)
    async with async_client(app, victim, Recorder()) as fluide:
        ws = await fluide.workspaces.create(name="Victim's clients")
        co = await fluide.workspaces.companies.create(
            ws.id, name="Victim Co", country_code="NG", currency="NGN"
        )
    return victim, ws.id, co.id


async def test_a_business_key_gets_the_typed_403_on_every_method(app: App, dev: Dev) -> None:
    victim, wid, cid = await _victim(app)
    async with async_client(app, dev, Recorder()) as fluide:
        for name, call in every_method(wid, cid):
            with pytest.raises(PermissionDeniedError) as denied:
                await outcome(name, call(fluide.workspaces))
            assert denied.value.status == 403 and denied.value.code == "INSUFFICIENT_SCOPE", name
            assert denied.value.scope == ACT_AS_SCOPE, name
    await _untouched(app, victim, wid, cid)


async def test_a_partner_narrowed_away_from_act_as_gets_the_typed_403(app: App) -> None:
    partner = await create_partner(app)
    async with AsyncFluideClient(
        "http://testserver",
        partner.api_key,
        partner.api_secret,
        scope="hr:read",
        transport=asgi_recording(app, Recorder()),
    ) as fluide:
        with pytest.raises(PermissionDeniedError) as denied:
            await fluide.workspaces.create(name="Nope")
        assert denied.value.scope == ACT_AS_SCOPE


async def test_another_partners_ids_are_the_typed_404_on_every_method(app: App) -> None:
    victim, wid, cid = await _victim(app)
    attacker = await create_partner(app)
    async with async_client(app, attacker, Recorder()) as fluide:
        mine = await fluide.workspaces.create(name="Attacker's")
        for name, call in every_method(wid, cid)[1:]:
            if name == "workspaces.create":
                continue
            with pytest.raises(NotFoundError) as missing:
                await outcome(name, call(fluide.workspaces))
            assert missing.value.status == 404, name
            assert missing.value.code == "WORKSPACE_NOT_FOUND", name
        # The victim's company through the attacker's own workspace: still nothing.
        with pytest.raises(NotFoundError) as missing:
            await fluide.workspaces.companies.get(mine.id, cid)
        assert missing.value.code == "COMPANY_NOT_FOUND"
        assert [w.id for w in await every(fluide.workspaces.list())] == [mine.id]
    await _untouched(app, victim, wid, cid)


async def _untouched(app: App, victim: Dev, wid: str, cid: str) -> None:
    async with async_client(app, victim, Recorder()) as fluide:
        assert (await fluide.workspaces.get(wid)).name == "Victim's clients"
        company = await fluide.workspaces.companies.get(wid, cid)
        assert company.status == "ACTIVE" and company.name == "Victim Co"


@pytest.fixture
async def owned(app: App) -> AsyncIterator[AsyncFluideClient]:
    """A partner's client, shared by the examples, holding one workspace and one company."""
    partner = await create_partner(app)
    async with async_client(app, partner, Recorder()) as fluide:
        ws = await fluide.workspaces.create(name="Kept")
        await fluide.workspaces.companies.create(
            ws.id, name="Kept Co", country_code="NG", currency="NGN"
        )
        yield fluide


TAKES_A_COMPANY = {"companies.get", "companies.update", "companies.delete"}
NUL = "must not contain the NUL character (U+0000)"
NOT_FOUND = {"WORKSPACE_NOT_FOUND", "COMPANY_NOT_FOUND", "NOT_FOUND"}


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    wid=st.text(max_size=80),
    cid=st.text(max_size=80),
    method=st.sampled_from([1, 3, 4, 5, 6, 7, 8, 9]),
)
@example(wid="w" * 10_000, cid="c", method=1)
@example(wid="..", cid="x", method=6)
@example(wid="x..", cid="...", method=9)
@example(wid="x?q=1#", cid="%2e%2e", method=8)
@example(wid="w\x00", cid="c", method=3)
@example(wid="0", cid="", method=5)  # companies.list takes no company id
@example(wid="0", cid="\x00", method=7)  # nor does companies.create
async def test_any_id_is_refused_before_sending_or_not_found(
    owned: AsyncFluideClient, wid: str, cid: str, method: int
) -> None:
    """Whatever a caller passes as ids: a ValueError before anything is sent, a typed 404, or
    (a NUL in the path) the typed 400; never an answer, and what the partner holds stays."""
    name, call = every_method(wid, cid)[method]  # every method that takes an id
    sent = [wid, cid] if name in TAKES_A_COMPANY else [wid]
    before = [w.id for w in await every(owned.workspaces.list())]
    if any(value in ("", ".", "..") or "/" in value or "\\" in value for value in sent):
        with pytest.raises(ValueError, match="invalid path parameter"):
            await outcome(name, call(owned.workspaces))
    elif any("\x00" in value for value in sent):  # the server refuses a NUL in any path
        with pytest.raises(ValidationError) as bad:
            await outcome(name, call(owned.workspaces))
        assert bad.value.errors == {"path": [NUL]}
    else:
        with pytest.raises(NotFoundError) as missing:
            await outcome(name, call(owned.workspaces))
        assert missing.value.code in NOT_FOUND, (name, missing.value.code)
    assert [w.id for w in await every(owned.workspaces.list())] == before
