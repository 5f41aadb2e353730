"""What every product's idempotent POST shares: the header, its errors, and the call into
``kit.idempotency`` with this process's settings."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import Header, Request, Response

from fluide.kit import idempotency
from fluide.kit.uow import get_infra

IdemHeader: Any = Header(
    None,
    alias="Idempotency-Key",
    max_length=255,
    description="Same key + same body → the stored response; different body → 409. A key is "
    "kept 24 h after its request completed (FLUIDE_IDEMPOTENCY_RETENTION_HOURS), then is new",
)
# What every idempotent POST can answer about its key (beyond the key's own validation).
IDEMPOTENCY_ERRORS = (idempotency.IdempotencyKeyReused, idempotency.IdempotencyInProgress)


async def run_idempotent(
    request: Request, tenant_id: str, key: str | None, body: Any, work: idempotency.Work
) -> Response:
    """``work`` at most once per (tenant, key) for this POST and body; a replay otherwise."""
    rt = get_infra(request)
    return await idempotency.execute(
        rt.sessionmaker,
        rt.clock,
        tenant_id=tenant_id,
        key=key,
        request_hash=idempotency.fingerprint("POST", request.url.path, body),
        work=work,
        stale_after=timedelta(seconds=rt.settings.idempotency_stale_seconds),
        retention=timedelta(hours=rt.settings.idempotency_retention_hours),
    )
