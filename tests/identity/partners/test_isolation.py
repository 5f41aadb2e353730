"""Property (DESIGN §3.7): for any partners, workspaces, companies and rows, every product
list and read under act-as shows only that company's rows; the partner's own data and every
other company's (of the same partner or another) are 404 and never listed. Over HTTP, every
product, the real guard and the real services."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fluide.app import App
from tests.identity.partners.support import acting, create_partner, new_company, new_workspace
from tests.products.helpers import headers_for
from tests.products.test_tenancy import KINDS, LISTS, PROBES, World

# A world: partners, each with workspaces, each with some companies.
shapes = st.lists(st.lists(st.integers(1, 2), min_size=1, max_size=2), min_size=1, max_size=2)
ops = st.lists(
    st.one_of(
        st.tuples(st.just("create"), st.integers(0, 99), st.sampled_from(KINDS)),
        st.tuples(
            st.just("probe"),
            st.integers(0, 99),
            st.sampled_from(KINDS),
            st.integers(0, 50),
            st.integers(0, 3),
        ),
    ),
    min_size=1,
    max_size=6,
)


class Parties(World):
    """``World`` with any number of parties: each partner's own data and each company's."""

    def __init__(self, client: httpx.AsyncClient, headers: list[dict[str, str]]) -> None:
        super().__init__(client, headers)
        self.owned = [defaultdict(list) for _ in headers]

    def others(self, t: int, kind: str) -> list[str]:
        return [i for u, mine in enumerate(self.owned) if u != t for i in mine[kind] if i != "?"]

    async def probe(self, t: int, kind: str, index: int, how: int) -> None:
        theirs = self.others(t, kind)
        target = theirs[index % len(theirs)] if theirs else f"missing_{index}"
        method, template, body = PROBES[kind][how % len(PROBES[kind])]
        resp = await self.client.request(
            method, template.format(id=target), json=body, headers=self.headers[t]
        )
        assert resp.status_code == 404, (t, method, template, resp.status_code, resp.text)
        assert target not in resp.text

    async def probe_everything(self) -> None:
        for t in range(len(self.headers)):
            for kind in KINDS:
                for index in range(len(self.others(t, kind))):
                    for how in range(len(PROBES[kind])):
                        await self.probe(t, kind, index, how)

    async def check_lists(self) -> None:
        listed: list[dict[str, set[str]]] = []
        for headers in self.headers:
            seen: dict[str, set[str]] = {}
            for kind, path in LISTS.items():
                resp = await self.client.get(path, headers=headers)
                assert resp.status_code == 200, resp.text
                seen[kind] = {item["id"] for item in resp.json()["items"]}
            listed.append(seen)
        for t, seen in enumerate(listed):
            for kind in KINDS:
                for u, other in enumerate(listed):
                    if u != t:
                        assert not seen[kind] & other[kind], (t, u, kind)
                assert not seen[kind] & set(self.others(t, kind))
                assert {i for i in self.owned[t][kind] if i != "?"} <= seen[kind]


async def _parties(
    client: httpx.AsyncClient, runtime: App, shape: list[list[int]]
) -> list[dict[str, str]]:
    """The headers of every party: each partner as itself, then as each of its companies."""
    parties: list[dict[str, str]] = []
    for workspaces in shape:
        partner = await create_partner(runtime)
        own = await headers_for(client, partner)
        parties.append(own)
        for n in workspaces:
            wid = await new_workspace(client, own)
            for i in range(n):
                parties.append(acting(own, wid, await new_company(client, own, wid, name=f"C{i}")))
    return parties


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(shape=shapes, program=ops)
async def test_acting_shows_only_the_companys_rows(
    client: httpx.AsyncClient, runtime: App, shape: list[list[int]], program: list[tuple[Any, ...]]
) -> None:
    parties = await _parties(client, runtime, shape)
    world = Parties(client, parties)
    for op in program:
        t = op[1] % len(parties)
        if op[0] == "create":
            await world.create(t, op[2])
        else:
            await world.probe(t, op[2], op[3], op[4])
    await world.check_lists()
    await world.probe_everything()
