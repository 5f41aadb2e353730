"""Secrets at rest: HMAC-SHA256 under a server pepper; passwords with Argon2id."""

from __future__ import annotations

import hashlib
import hmac

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class SecretHasher:
    """High-entropy secrets need no slow hash; the pepper makes a stolen table useless."""

    def __init__(self, pepper: bytes) -> None:
        if len(pepper) < 16:
            raise ValueError("pepper too short")
        self._pepper = pepper
        # Compared against when the key is unknown, so both paths do the same work.
        self.decoy = self.digest("fl_sk_decoy")

    def digest(self, secret: str) -> str:
        return hmac.new(self._pepper, secret.encode(), hashlib.sha256).hexdigest()

    def matches(self, secret: str, stored: str | None) -> bool:
        return hmac.compare_digest(self.digest(secret), stored or self.decoy)

    def digest_matches(self, digest: str, stored: str | None) -> bool:
        """``matches`` for a secret already digested (one HMAC for several comparisons)."""
        return hmac.compare_digest(digest, stored or self.decoy)

    def __repr__(self) -> str:
        return "SecretHasher(pepper=***)"


_passwords = PasswordHasher()  # argon2id, library defaults (RFC 9106 low-memory profile)
_DUMMY_PASSWORD_HASH = _passwords.hash("fluide-dummy-password")


def hash_password(password: str) -> str:
    return _passwords.hash(password)


def verify_password(password: str, stored: str | None) -> bool:
    """Constant work whether or not the account exists."""
    try:
        return _passwords.verify(stored or _DUMMY_PASSWORD_HASH, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_needs_rehash(stored: str) -> bool:
    return _passwords.check_needs_rehash(stored)
