"""Secrets at rest: HMAC-SHA256 under a server pepper; passwords with Argon2id."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from fluide.kit.clock import Clock

# Compared against where nothing is stored, so that case costs one comparison too. No digest
# equals it (digests are hex), and the result is discarded anyway: nothing stored never matches.
_NOTHING_STORED = "-" * 64


class SecretHasher:
    """High-entropy secrets need no slow hash; the pepper makes a stolen table useless.

    Fail closed: where nothing is stored (an unknown key, no previous secret in grace, an empty
    column), no value matches, whatever it is. (Comparing against the digest of a fixed decoy
    instead, as an earlier version did, made that decoy's plaintext a secret of every such
    credential: issue 14.)"""

    def __init__(self, pepper: bytes) -> None:
        if len(pepper) < 16:
            raise ValueError("pepper too short")
        self._pepper = pepper

    def digest(self, secret: str) -> str:
        # "surrogatepass": a lone surrogate (a JSON body may carry one) is just another wrong
        # value, not an encoding error; every other string encodes exactly as UTF-8.
        data = secret.encode("utf-8", "surrogatepass")
        return hmac.new(self._pepper, data, hashlib.sha256).hexdigest()

    def matches(self, secret: str, stored: str | None) -> bool:
        return self.digest_matches(self.digest(secret), stored)

    def digest_matches(self, digest: str, stored: str | None) -> bool:
        """``matches`` for a secret already digested (one HMAC for several comparisons)."""
        same = hmac.compare_digest(digest.encode(), (stored or _NOTHING_STORED).encode())
        return same and bool(stored)

    def live_secret(
        self, digest: str, cred: Any, clock: Clock
    ) -> Literal["current", "previous"] | None:
        """Which live secret of ``cred`` a digested secret is: "current", "previous" (only while
        the rotation's grace lasts), or None (also when ``cred`` is None).

        ``cred`` is anything with a credential's ``secret_hash``, ``previous_secret_hash`` and
        ``previous_secret_expires_at``: a database row, the exchange's snapshot, an ORM object.
        The one decision for every path that asks (the exchange's snapshot and database paths,
        the exposure check), so they cannot disagree. Both comparisons always run; ``clock`` is
        read only when there is a grace to check (it is on the exchange's hot path)."""
        current = previous = None
        if cred is not None:
            current = cred.secret_hash
            until = cred.previous_secret_expires_at
            if until is not None and until > clock():  # the clock only when there is a grace
                previous = cred.previous_secret_hash
        current_ok = self.digest_matches(digest, current)
        previous_ok = self.digest_matches(digest, previous)
        if cred is None:
            return None
        return "current" if current_ok else "previous" if previous_ok else None

    def __repr__(self) -> str:
        return "SecretHasher(pepper=***)"


_passwords = PasswordHasher()  # argon2id, library defaults (RFC 9106 low-memory profile)
_DUMMY_PASSWORD_HASH = _passwords.hash("fluide-dummy-password")


def hash_password(password: str) -> str:
    return _passwords.hash(password)


def verify_password(password: str, stored: str | None) -> bool:
    """Constant work whether or not the account (or its password) exists; where nothing is
    stored, nothing matches (not even the dummy hash's own password)."""
    try:
        return _passwords.verify(stored or _DUMMY_PASSWORD_HASH, password) and bool(stored)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_needs_rehash(stored: str) -> bool:
    return _passwords.check_needs_rehash(stored)
