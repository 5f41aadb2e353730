"""A short-lived, per-process snapshot of active credentials, for the token exchange.

The exchange reads one credential row per call. Under load the same few keys exchange over and
over, so each process keeps what it last read for at most ``ttl`` seconds (1 s by default: the
same bound within which every process enforces a rotation or a revocation, DESIGN §3.5 and
issue 8). An entry is only ever a shortcut to a *success*:

- only active credentials of verified accounts are kept (never a denial);
- a secret that does not match the entry goes to the database before any answer, so a secret
  rotated in another process works at once everywhere;
- an entry is skipped when the revocation view (fed by the change feed) says the credential is
  no longer active or its tokens were cut by a rotation without grace;
- a rotation or revocation committed in this process drops the entry at once (``forget``, from
  identity's after-commit hook: ``identity.feed.note_change``).

What remains is the bound: after a rotation *with* grace made in another process, a secret from
before the rotation before that may still exchange there for up to ``ttl``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fluide.identity.policy import CredentialPolicy
from fluide.identity.revocation import RevocationView

_MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class CachedCredential:
    id: str
    tenant_id: str
    api_key: str
    scopes: str
    generation: int
    secret_hash: str
    previous_secret_hash: str | None
    previous_secret_expires_at: datetime | None
    policy: CredentialPolicy  # expiry, networks, limit and scopes, as read (identity.policy)
    fetched: float  # time.monotonic() when read

    def __repr__(self) -> str:
        return f"CachedCredential(id={self.id!r})"

    @classmethod
    def of(cls, row: Any) -> CachedCredential:
        """The snapshot of a credential row just read (``fetched`` is now)."""
        return cls(
            id=row.id,
            tenant_id=row.tenant_id,
            api_key=row.api_key,
            scopes=row.scopes,
            generation=row.generation,
            secret_hash=row.secret_hash,
            previous_secret_hash=row.previous_secret_hash,
            previous_secret_expires_at=row.previous_secret_expires_at,
            policy=CredentialPolicy.of(row),
            fetched=time.monotonic(),
        )


class CredentialCache:
    def __init__(self, view: RevocationView, ttl: float = 1.0) -> None:
        self.view = view
        self.ttl = ttl
        self._entries: dict[str, CachedCredential] = {}

    def get(self, api_key: str) -> CachedCredential | None:
        entry = self._entries.get(api_key)
        if entry is None:
            return None
        if (
            time.monotonic() - entry.fetched > self.ttl
            or self.view.credential_status(entry.id) != "active"
            or self.view.min_generation.get(entry.id, 0) > entry.generation
        ):
            self._entries.pop(api_key, None)
            return None
        return entry

    def put(self, entry: CachedCredential) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) >= _MAX_ENTRIES:
            self._entries.clear()  # bounded memory beats a perfect hit rate
        self._entries[entry.api_key] = entry

    def forget(self, api_keys: set[str] | list[str] | tuple[str, ...]) -> None:
        for key in api_keys:
            self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()
