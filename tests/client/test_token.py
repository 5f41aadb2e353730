"""When a token is refreshed: skew, jitter, the half-lifetime clamp, the client's own clock."""

from __future__ import annotations

import random

from fluide.client import Token
from fluide.client._token import refresh_margin


def test_refresh_margin_is_skew_plus_bounded_jitter() -> None:
    rng = random.Random(5)
    margins = [refresh_margin(900, 60, 10, rng) for _ in range(200)]
    assert all(60 <= m <= 70 for m in margins)
    assert len(set(margins)) > 100  # jitter really spreads them


def test_short_tokens_refresh_at_half_life() -> None:
    assert refresh_margin(30, 60, 10, random.Random(1)) == 15
    assert refresh_margin(900, 0, 0, random.Random(1)) == 0


def test_expiry_is_on_the_clients_clock() -> None:
    body = {"accessToken": "jwt", "exp": 500, "iat": 400, "expiresIn": 100, "jti": "j"}
    token = Token.from_exchange(body, sent_at=10_000, skew=20, jitter=0, rng=random.Random())
    assert token.expires_at == 10_100 and token.refresh_at == 10_080
    assert token.usable(10_079) and not token.usable(10_080)
    assert "jwt" not in repr(token)
    assert Token.from_cache(token.to_cache()) == token
