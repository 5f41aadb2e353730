"""Secrets at rest: HMAC under a pepper; passwords with Argon2id."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fluide.identity.hashing import SecretHasher, hash_password, verify_password

NOW = datetime(2026, 1, 1, tzinfo=UTC)
# Values a fail-open comparison might have let through where nothing is stored.
SUSPECTS = st.one_of(
    st.sampled_from(["fl_sk_decoy", "", " ", "\x00", "None", "-" * 64, "fluide-dummy-password"]),
    st.text(max_size=80),
)


def test_digest_depends_on_the_pepper() -> None:
    a, b = SecretHasher(b"p" * 32), SecretHasher(b"q" * 32)
    assert a.digest("fl_sk_x") != b.digest("fl_sk_x")
    assert a.digest("fl_sk_x") == a.digest("fl_sk_x")
    assert len(a.digest("fl_sk_x")) == 64


def test_matches() -> None:
    h = SecretHasher(b"p" * 32)
    stored = h.digest("right")
    assert h.matches("right", stored)
    assert not h.matches("wrong", stored)
    assert not h.matches("right", None)  # unknown key: nothing stored


@given(SUSPECTS)
def test_where_nothing_is_stored_nothing_matches(value: str) -> None:
    """Issue 14: main compared against the digest of "fl_sk_decoy" when nothing was stored, so
    that value matched every empty slot."""
    h = SecretHasher(b"p" * 32)
    for stored in (None, ""):
        assert not h.matches(value, stored)
        assert not h.digest_matches(h.digest(value), stored)
        assert not h.digest_matches(value, stored)  # even a raw value that is not a digest


def _cred(h: SecretHasher, previous_until: datetime | None) -> SimpleNamespace:
    return SimpleNamespace(
        secret_hash=h.digest("current"),
        previous_secret_hash=h.digest("previous") if previous_until else None,
        previous_secret_expires_at=previous_until,
    )


@given(SUSPECTS)
def test_live_secret_is_only_the_current_and_the_graced_previous(value: str) -> None:
    h = SecretHasher(b"p" * 32)
    in_grace, grace_over = NOW + timedelta(seconds=1), NOW
    for until in (None, in_grace, grace_over):
        cred = _cred(h, until)
        assert h.live_secret(h.digest("current"), cred, lambda: NOW) == "current"
        expected_previous = "previous" if until == in_grace else None
        assert h.live_secret(h.digest("previous"), cred, lambda: NOW) == expected_previous
        if value not in ("current", "previous"):
            assert h.live_secret(h.digest(value), cred, lambda: NOW) is None
        assert h.live_secret(h.digest("current"), None, lambda: NOW) is None  # no credential
    # A previous secret column left behind without an expiry never exchanges.
    stale = SimpleNamespace(
        secret_hash=h.digest("current"),
        previous_secret_hash=h.digest("previous"),
        previous_secret_expires_at=None,
    )
    assert h.live_secret(h.digest("previous"), stale, lambda: NOW) is None


def test_lone_surrogates_are_wrong_values_not_errors() -> None:
    h = SecretHasher(b"p" * 32)
    assert not h.matches("fl_sk_\ud800", h.digest("fl_sk_x"))
    # Everything else digests as plain UTF-8, as before (stored digests stay valid).
    plain = hmac.new(b"p" * 32, "fl_sk_é".encode(), hashlib.sha256).hexdigest()
    assert h.digest("fl_sk_é") == plain


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


@pytest.mark.parametrize("stored", [None, ""])
def test_no_stored_password_matches_nothing_not_even_the_dummys_own(stored: str | None) -> None:
    for password in ("fluide-dummy-password", "", "anything"):
        assert not verify_password(password, stored)
