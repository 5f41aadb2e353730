"""Tenant-scoped reads every product repeats: one row by id or its 404, one page with its total.

Every product table has ``tenant_id`` and ``id`` columns; filtering on the caller's tenant is
what makes another tenant's resource a 404 (docs/architecture.md, Products).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fluide.kit.db import Base
from fluide.kit.errors import AppError
from fluide.kit.pagination import PageParams

M = TypeVar("M", bound=Base)


def contains_text(column: Any, q: str) -> ColumnElement[bool]:
    """``column`` contains ``q``, case-insensitively, with ``q`` taken literally: its ``%``,
    ``_`` and ``\\`` match themselves, not any text (a search for "50%" is not a wildcard)."""
    literal = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return func.lower(column).like(f"%{literal}%", escape="\\")


async def get_owned(
    session: AsyncSession, model: type[M], tenant_id: str, id_: str, not_found: type[AppError]
) -> M:
    """The ``model`` row with this id in this tenant, or ``not_found`` (the same for a row that
    exists in another tenant: its existence is not disclosed)."""
    cols: Any = model
    row = await session.scalar(select(model).where(cols.tenant_id == tenant_id, cols.id == id_))
    if row is None:
        raise not_found
    return row


async def paged(
    session: AsyncSession,
    model: type[M],
    tenant_id: str,
    params: PageParams,
    *where: Any,
    order_by: Sequence[Any] | None = None,
) -> tuple[list[M], int]:
    """One page of this tenant's ``model`` rows matching ``where``, and how many match in all;
    ordered by ``order_by``, by default creation time then id (stable across pages).

    One statement for both: the total rides on each row as ``count(*) OVER ()`` (evaluated
    before LIMIT/OFFSET, so it counts every match), which saves a round trip per list on both
    backends and reads page and total in one snapshot. A page past the end has no row to carry
    it: only then is the total counted by a second query."""
    cols: Any = model
    conditions = (cols.tenant_id == tenant_id, *where)
    found = await session.execute(
        select(model, func.count().over())
        .where(*conditions)
        .order_by(*(order_by if order_by is not None else (cols.created_at, cols.id)))
        .offset(params.offset)
        .limit(params.limit)
    )
    pairs = found.all()
    if pairs:
        return [row for row, _ in pairs], int(pairs[0][1])
    if params.offset == 0:
        return [], 0
    total = await session.scalar(select(func.count()).select_from(model).where(*conditions))
    return [], total or 0
