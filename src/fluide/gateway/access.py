"""The access log: one line per request (DESIGN §3.8), on the ``fluide.access`` logger.

Fields: ``request_id``, ``method`` (one of the usual methods, else ``OTHER``), ``route`` (the
route template), ``path`` (without the query string, cut at ``MAX_PATH`` characters), ``status``,
``duration_ms``, and ``credential_id`` / ``tenant_id`` once the guard or the exchange knows the
caller. Never a header, a query string, a body, a key, a secret or a token: nothing else of the
request is read, and anything shaped like a credential in the path is masked
(``kit.logging.redact``). ``FLUIDE_ACCESS_LOG=false`` turns it off.
"""

from __future__ import annotations

import logging

from starlette.types import Scope

from fluide.gateway.metrics import METHODS
from fluide.identity.principal import Principal
from fluide.kit.logging import ACCESS, redact

MAX_PATH = 256
log = logging.getLogger(ACCESS)


def write(scope: Scope, route: str, status: int, seconds: float) -> None:
    """Log one answered request (cheap when the level hides it: one check)."""
    if not log.isEnabledFor(logging.INFO):
        return
    method: str = scope["method"]
    extra: dict[str, object] = {
        "method": method if method in METHODS else "OTHER",
        "route": route,
        # Masked here, not only by our formatter: any handler may see the record.
        "path": redact(scope["path"][:MAX_PATH]),
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
    }
    state = scope.get("state") or {}
    caller = state.get("principal") or state.get("denied_principal")
    if isinstance(caller, Principal):
        extra["credential_id"] = caller.credential_id
        extra["tenant_id"] = caller.tenant_id
    else:
        credential_id = state.get("credential_id")
        if isinstance(credential_id, str):
            extra["credential_id"] = credential_id
            extra["tenant_id"] = state.get("tenant_id")
    # ``log.info`` would also walk the stack for the caller's file and line (about a quarter of
    # the cost of a line): the access log's caller is always this function.
    log.handle(log.makeRecord(ACCESS, logging.INFO, __file__, 0, "request", (), None, extra=extra))
