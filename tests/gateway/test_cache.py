"""The verified-token cache: bounded, emptied by a new key set, never prints tokens."""

from __future__ import annotations

import pytest

from fluide.gateway.cache import TokenCache
from fluide.identity.principal import Principal


def _principal(n: int) -> Principal:
    return Principal(f"j{n}", "cred", "ten", "fluide-developer", "key", frozenset(), 1, 0, 10)


def test_bounded_oldest_first() -> None:
    cache, keyset = TokenCache(max_entries=3), object()
    for n in range(5):
        cache.put(f"token-{n}", _principal(n), keyset)
    assert len(cache) == 3
    assert cache.get("token-0", keyset) is None and cache.get("token-1", keyset) is None
    hit = cache.get("token-4", keyset)
    assert hit is not None and hit.jti == "j4"


def test_a_new_keyset_empties_it() -> None:
    cache, old, new = TokenCache(), object(), object()
    cache.put("t", _principal(1), old)
    assert cache.get("t", old) is not None
    assert cache.get("t", new) is None
    assert len(cache) == 0


def test_repr_hides_tokens() -> None:
    cache = TokenCache()
    cache.put("eyJsecret.token.value", _principal(1), object())
    assert "eyJ" not in repr(cache)


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        TokenCache(0)
