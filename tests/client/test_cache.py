"""The token cache file: private, atomic, keyed, never the secret, expired entries dropped."""

from __future__ import annotations

import json
import random
import stat
from pathlib import Path

import pytest

from fluide.client import Token, TokenCache, default_cache_path
from fluide.client._cache import cache_key


def token(jti: str, sent_at: float = 1000.0) -> Token:
    body = {"accessToken": f"jwt-{jti}", "expiresIn": 900, "jti": jti}
    return Token.from_exchange(body, sent_at=sent_at, skew=60, jitter=0, rng=random.Random())


def test_store_load_discard(tmp_path: Path) -> None:
    cache = TokenCache(tmp_path / "d" / "tokens.json")
    key = cache_key("http://h", "fl_dev_k", "fluide-developer", None)
    assert cache.load(key, 0) is None
    cache.store(key, token("a"), now=1000)
    assert stat.S_IMODE(cache.path.stat().st_mode) == 0o600
    loaded = cache.load(key, 1000)
    assert loaded is not None and loaded.jti == "a"
    assert cache.load(key, 1900 - 60) is None  # past refresh time
    cache.discard(key, jti="other")  # someone else's token: kept
    assert cache.load(key, 1000) is not None
    cache.discard(key, jti="a")
    assert cache.load(key, 1000) is None


def test_expired_entries_are_dropped_and_keys_are_separate(tmp_path: Path) -> None:
    cache = TokenCache(tmp_path / "tokens.json")
    k1 = cache_key("http://h", "k1", "fluide-developer", None)
    k2 = cache_key("http://h", "k2", "fluide-developer", None)
    k3 = cache_key("http://h", "k1", "fluide-developer", "hr:read")
    assert len({k1, k2, k3}) == 3
    cache.store(k1, token("old", sent_at=0), now=0)
    cache.store(k2, token("new", sent_at=5000), now=5000)
    assert set(json.loads(cache.path.read_text())) == {k2}


def test_a_corrupt_file_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text("{not json")
    cache = TokenCache(path)
    assert cache.load("k", 0) is None
    cache.store("k", token("a"), now=1000)
    assert cache.load("k", 1000) is not None
    cache.clear()
    assert not path.exists()


def test_default_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLUIDE_TOKEN_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_path() == tmp_path / "fluide" / "tokens.json"
    monkeypatch.setenv("FLUIDE_TOKEN_CACHE", str(tmp_path / "x.json"))
    assert default_cache_path() == tmp_path / "x.json"
