"""An optional on-disk token cache (the CLI uses it so each command does not re-exchange).

One JSON file, mode 0600 in a 0700 directory, replaced atomically. Entries are keyed by a
hash of base URL, API key, client id and scope. It holds access tokens only: never the
secret. A token is a bearer credential until it expires, so the file is private to its user.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from fluide.client._token import Token

ENV_PATH = "FLUIDE_TOKEN_CACHE"


def default_cache_path() -> Path:
    """``$FLUIDE_TOKEN_CACHE``, else ``$XDG_CACHE_HOME/fluide/tokens.json`` (~/.cache)."""
    explicit = os.environ.get(ENV_PATH)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fluide" / "tokens.json"


def cache_key(base_url: str, api_key: str, client_id: str, scope: str | None) -> str:
    raw = "\n".join([base_url.rstrip("/"), api_key, client_id, scope or ""])
    return hashlib.sha256(raw.encode()).hexdigest()


class TokenCache:
    """A token store in one file. Safe across threads; across processes the last writer wins
    (each entry is a whole valid token, so a lost write only costs one extra exchange)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TokenCache(path={str(self.path)!r})"

    def load(self, key: str, now: float) -> Token | None:
        """The cached token for ``key`` if it is still usable at ``now``."""
        entry = self._read().get(key)
        if not isinstance(entry, dict):
            return None
        try:
            token = Token.from_cache(entry)
        except (KeyError, TypeError, ValueError):
            return None
        return token if token.usable(now) else None

    def store(self, key: str, token: Token, now: float) -> None:
        with self._lock:
            entries = self._read()
            # Drop what has expired while we are here, so the file does not grow forever.
            entries = {
                k: v
                for k, v in entries.items()
                if isinstance(v, dict) and float(v.get("expiresAt", 0)) > now
            }
            entries[key] = token.to_cache()
            self._write(entries)

    def discard(self, key: str, jti: str | None = None) -> None:
        """Forget ``key``'s token (only if it is still ``jti``, when given)."""
        with self._lock:
            entries = self._read()
            entry = entries.get(key)
            if entry is None:
                return
            if jti is not None and isinstance(entry, dict) and entry.get("jti") != jti:
                return
            del entries[key]
            self._write(entries)

    def clear(self) -> None:
        with self._lock, contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError, OSError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, entries: dict[str, Any]) -> None:
        directory = self.path.parent
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=directory)
        try:
            os.fchmod(fd, 0o600)  # mkstemp already uses 0600; say it anyway
            with os.fdopen(fd, "w") as fh:
                json.dump(entries, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
