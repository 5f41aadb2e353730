"""Key and secret formats: prefix, length, alphabet, checksum (DESIGN §4)."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from fluide.identity import formats


def test_new_key_and_secret_have_the_documented_shape() -> None:
    key, secret = formats.new_api_key(), formats.new_api_secret()
    assert key.startswith("fl_dev_")
    assert len(key) == len("fl_dev_") + 32 + 6
    assert secret.startswith("fl_sk_")
    assert formats.SECRET_BODY_LEN * math.log2(62) >= 256
    assert formats.is_api_key(key)
    assert formats.is_api_secret(secret)
    assert not formats.is_api_key(secret)
    assert not formats.is_api_secret(key)


def test_values_are_unique() -> None:
    assert len({formats.new_api_secret() for _ in range(200)}) == 200


@given(st.integers(min_value=7, max_value=44), st.sampled_from(formats.ALPHABET))
def test_a_single_typo_is_caught_offline(position: int, replacement: str) -> None:
    key = formats.new_api_key()
    if key[position] == replacement:
        return
    typo = key[:position] + replacement + key[position + 1 :]
    assert not formats.is_api_key(typo)


def test_truncated_or_foreign_values_are_rejected() -> None:
    key = formats.new_api_key()
    assert not formats.is_api_key(key[:-1])
    assert not formats.is_api_key(key + "0")
    assert not formats.is_api_key("fl_dev_" + "!" * 38)
    assert not formats.is_api_key("")


def test_key_hint_does_not_reveal_the_key() -> None:
    key = formats.new_api_key()
    hint = formats.key_hint(key)
    assert key not in hint
    assert len(hint) < 20
