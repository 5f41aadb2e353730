"""A bounded cache of verified tokens: signature and claims only, never a verdict.

The cache is keyed by the exact token string and holds the ``Principal`` its claims describe.
Bindings (client id, API key), revocation and credential status are re-checked from memory on
every hit, so a cached token replayed with another key or client id is refused like a fresh one.
Expiry is re-checked on every hit too. A new key set (rotation, reload) empties the cache, so a
token whose signing key was removed cannot outlive its key here.
"""

from __future__ import annotations

from fluide.identity.principal import Principal

DEFAULT_MAX_ENTRIES = 10_000


class TokenCache:
    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self.max_entries = max_entries
        self._entries: dict[str, Principal] = {}
        self._keyset: object | None = None

    def get(self, token: str, keyset: object) -> Principal | None:
        if keyset is not self._keyset:
            self._entries.clear()
            self._keyset = keyset
            return None
        return self._entries.get(token)

    def put(self, token: str, principal: Principal, keyset: object) -> None:
        if keyset is not self._keyset:
            self._entries.clear()
            self._keyset = keyset
        entries = self._entries
        if len(entries) >= self.max_entries:
            # Oldest first (dicts keep insertion order): O(1), no bookkeeping per hit.
            del entries[next(iter(entries))]
        entries[token] = principal

    def discard(self, token: str) -> None:
        self._entries.pop(token, None)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:  # never the tokens
        return f"TokenCache(entries={len(self._entries)}, max_entries={self.max_entries})"
