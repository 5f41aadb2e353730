"""Secrets at rest: HMAC under a pepper; passwords with Argon2id."""

from __future__ import annotations

import pytest

from fluide.identity.hashing import SecretHasher, hash_password, verify_password


def test_digest_depends_on_the_pepper() -> None:
    a, b = SecretHasher(b"p" * 32), SecretHasher(b"q" * 32)
    assert a.digest("fl_sk_x") != b.digest("fl_sk_x")
    assert a.digest("fl_sk_x") == a.digest("fl_sk_x")
    assert len(a.digest("fl_sk_x")) == 64


def test_matches_and_decoy() -> None:
    h = SecretHasher(b"p" * 32)
    stored = h.digest("right")
    assert h.matches("right", stored)
    assert not h.matches("wrong", stored)
    assert not h.matches("right", None)  # unknown key compares against the decoy


def test_short_pepper_refused_and_repr_hides_it() -> None:
    with pytest.raises(ValueError, match="pepper"):
        SecretHasher(b"short")
    assert "p" * 32 not in repr(SecretHasher(b"p" * 32))


def test_passwords_use_argon2id() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert verify_password("correct horse battery", stored)
    assert not verify_password("wrong horse battery", stored)
    assert not verify_password("anything", None)
    assert not verify_password("anything", "not-a-hash")
