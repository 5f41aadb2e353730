"""List envelopes of DESIGN §3.1."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel

T = TypeVar("T")


class PageParams(BaseModel):
    page: int = 1
    limit: int = 50
    q: str | None = None

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


async def page_params(
    page: int = Query(1, ge=1, le=1_000_000, description="1-based page number"),
    limit: int = Query(50, ge=1, le=200, description="Items per page (max 200)"),
    q: str | None = Query(None, max_length=200, description="Free-text filter"),
) -> PageParams:
    return PageParams(page=page, limit=limit, q=q)


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    page: int
    limit: int

    @classmethod
    def of(cls, items: Sequence[T], total: int, params: PageParams) -> Page[T]:
        return cls(items=list(items), total=total, page=params.page, limit=params.limit)


PageDep = Annotated[PageParams, Depends(page_params)]
