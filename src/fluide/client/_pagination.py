"""Pages of a list (DESIGN §3.1: ``{"items", "total", "page", "limit"}``) that fetch lazily.

``SyncPage`` / ``AsyncPage`` hold one page and know how to fetch the next: iterating one yields
its items and then those of every following page, fetched only when the loop gets there.
``AsyncPager`` is what an async ``list()`` returns before it is awaited: ``await`` it for the
first page, or ``async for`` over it directly.

Pages are numbered, so rows created or deleted while you iterate may shift an item into a page
already read (seen twice) or out of one (missed); the server orders each list by a stable key.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx
from pydantic import BaseModel

from fluide.client._call import Call, invalid_response

T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True)
class PageData(Generic[T]):
    items: list[T]
    total: int
    page: int
    limit: int

    @property
    def has_next(self) -> bool:
        # An empty page ends the walk even if ``total`` says otherwise (rows deleted meanwhile).
        return bool(self.items) and self.page * self.limit < self.total


def page_of(cls: type[T]) -> Callable[[httpx.Response], PageData[T]]:
    def parse(response: httpx.Response) -> PageData[T]:
        try:
            raw = response.json()
            return PageData(
                items=[cls.model_validate(item) for item in raw["items"]],
                total=int(raw["total"]),
                page=int(raw["page"]),
                limit=int(raw["limit"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise invalid_response(response) from exc

    return parse


class _PageBase(Generic[T]):
    def __init__(self, call: Call[PageData[T]], data: PageData[T]) -> None:
        self._call = call
        self._data = data

    @property
    def items(self) -> list[T]:
        """The items of this page only."""
        return self._data.items

    @property
    def total(self) -> int:
        """How many items the whole list holds (every page)."""
        return self._data.total

    @property
    def page(self) -> int:
        return self._data.page

    @property
    def limit(self) -> int:
        return self._data.limit

    def has_next_page(self) -> bool:
        return self._data.has_next

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(page={self.page}, limit={self.limit}, "
            f"total={self.total}, items={len(self.items)})"
        )


class SyncPage(_PageBase[T]):
    """One page of a list; ``for item in page`` walks every item of every following page."""

    def __init__(
        self,
        fetch: Callable[[Call[PageData[T]]], PageData[T]],
        call: Call[PageData[T]],
        data: PageData[T],
    ) -> None:
        super().__init__(call, data)
        self._fetch = fetch

    def next_page(self) -> SyncPage[T] | None:
        if not self.has_next_page():
            return None
        call = self._call.next_page(self.page + 1)
        return SyncPage(self._fetch, call, self._fetch(call))

    def iter_pages(self) -> Iterator[SyncPage[T]]:
        """This page, then each following one, fetched as the loop reaches it."""
        page: SyncPage[T] | None = self
        while page is not None:
            yield page
            page = page.next_page()

    def __iter__(self) -> Iterator[T]:
        for page in self.iter_pages():
            yield from page.items


class AsyncPage(_PageBase[T]):
    """One page of a list; ``async for item in page`` walks every item of every following
    page."""

    def __init__(
        self,
        fetch: Callable[[Call[PageData[T]]], Awaitable[PageData[T]]],
        call: Call[PageData[T]],
        data: PageData[T],
    ) -> None:
        super().__init__(call, data)
        self._fetch = fetch

    async def next_page(self) -> AsyncPage[T] | None:
        if not self.has_next_page():
            return None
        call = self._call.next_page(self.page + 1)
        return AsyncPage(self._fetch, call, await self._fetch(call))

    async def iter_pages(self) -> AsyncIterator[AsyncPage[T]]:
        page: AsyncPage[T] | None = self
        while page is not None:
            yield page
            page = await page.next_page()

    async def __aiter__(self) -> AsyncIterator[T]:
        async for page in self.iter_pages():
            for item in page.items:
                yield item


class AsyncPager(Generic[T]):
    """An async list before its first page: ``await`` it for that page (an ``AsyncPage``), or
    iterate it with ``async for`` (every item of every page). Nothing is sent until then."""

    def __init__(
        self,
        fetch: Callable[[Call[PageData[T]]], Awaitable[PageData[T]]],
        call: Call[PageData[T]],
    ) -> None:
        self._fetch = fetch
        self._call = call

    async def first_page(self) -> AsyncPage[T]:
        return AsyncPage(self._fetch, self._call, await self._fetch(self._call))

    def __await__(self) -> Generator[Any, None, AsyncPage[T]]:
        return self.first_page().__await__()

    async def iter_pages(self) -> AsyncIterator[AsyncPage[T]]:
        async for page in (await self.first_page()).iter_pages():
            yield page

    async def __aiter__(self) -> AsyncIterator[T]:
        async for page in self.iter_pages():
            for item in page.items:
                yield item
