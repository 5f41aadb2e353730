"""Pages fetch lazily, walk every item of every page once, and stop on an empty page."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fluide.client import AsyncFluideClient, AsyncPage, FluideClient, SyncPage
from tests.client.keys import KEY, SECRET

TOKEN = {"accessToken": "jwt", "expiresIn": 900, "exp": 2, "iat": 1, "jti": "j1"}


def country(n: int) -> dict[str, Any]:
    return {"code": f"C{n}", "name": f"Country {n}", "currency": "USD", "statutoryRules": False}


class Pages:
    """A list of ``total`` countries served ``limit`` at a time; ``lie`` inflates the total
    (rows deleted while a client walks the pages)."""

    def __init__(self, total: int, lie: int = 0) -> None:
        self.total, self.lie = total, lie
        self.asked: list[int] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token"):
            return httpx.Response(200, json=TOKEN)
        page = int(request.url.params.get("page", "1"))
        limit = int(request.url.params.get("limit", "50"))
        self.asked.append(page)
        start = (page - 1) * limit
        items = [country(n) for n in range(start, min(start + limit, self.total))]
        body = {"items": items, "total": self.total + self.lie, "page": page, "limit": limit}
        return httpx.Response(200, json=body)


def test_a_sync_list_fetches_each_page_when_the_loop_reaches_it() -> None:
    pages = Pages(total=7)
    with FluideClient("http://t", KEY, SECRET, transport=httpx.MockTransport(pages)) as fluide:
        first = fluide.utils.countries(limit=3, q="c")
        assert isinstance(first, SyncPage) and pages.asked == [1]
        assert first.total == 7 and [c.code for c in first.items] == ["C0", "C1", "C2"]
        walked = iter(first)
        assert [next(walked).code for _ in range(4)] == ["C0", "C1", "C2", "C3"]
        assert pages.asked == [1, 2]  # page 3 not fetched yet
        assert [c.code for c in walked] == ["C4", "C5", "C6"]
        assert pages.asked == [1, 2, 3]
        assert [p.page for p in first.iter_pages()] == [1, 2, 3]
        second = first.next_page()
        assert second is not None and second.page == 2 and second.has_next_page()
        assert "total=7" in repr(first)
    assert pages.asked == [1, 2, 3, 2, 3, 2]


def test_an_empty_page_ends_the_walk_whatever_total_says() -> None:
    pages = Pages(total=4, lie=100)
    with FluideClient("http://t", KEY, SECRET, transport=httpx.MockTransport(pages)) as fluide:
        assert len(list(fluide.utils.countries(limit=2))) == 4
    assert pages.asked == [1, 2, 3]


def test_a_start_page_is_where_the_walk_starts() -> None:
    pages = Pages(total=5)
    with FluideClient("http://t", KEY, SECRET, transport=httpx.MockTransport(pages)) as fluide:
        assert [c.code for c in fluide.utils.countries(page=2, limit=2)] == ["C2", "C3", "C4"]


async def test_an_async_list_sends_nothing_until_awaited_or_iterated() -> None:
    pages = Pages(total=5)
    transport = httpx.MockTransport(pages)
    async with AsyncFluideClient("http://t", KEY, SECRET, transport=transport) as fluide:
        pager = fluide.utils.countries(limit=2)
        assert pages.asked == []
        first = await pager
        assert isinstance(first, AsyncPage) and first.total == 5 and len(first.items) == 2
        assert [c.code async for c in first] == ["C0", "C1", "C2", "C3", "C4"]
        assert [c.code async for c in fluide.utils.countries(limit=2)] == [
            f"C{n}" for n in range(5)
        ]
        sizes = [len(p.items) async for p in fluide.utils.countries(limit=2).iter_pages()]
        assert sizes == [2, 2, 1]
        last = await (await first.next_page()).next_page()  # type: ignore[union-attr]
        assert last is not None and not last.has_next_page()
        assert await last.next_page() is None
    assert pages.asked == [1, 2, 3, 1, 2, 3, 1, 2, 3, 2, 3]


@pytest.mark.parametrize("limit", [1, 3, 50])
async def test_every_item_exactly_once_at_any_page_size(limit: int) -> None:
    pages = Pages(total=11)
    transport = httpx.MockTransport(pages)
    async with AsyncFluideClient("http://t", KEY, SECRET, transport=transport) as fluide:
        codes = [c.code async for c in fluide.utils.countries(limit=limit)]
    assert codes == [f"C{n}" for n in range(11)]
    assert len(pages.asked) == -(-11 // limit)
