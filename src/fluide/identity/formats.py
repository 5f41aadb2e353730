"""API key and secret formats (DESIGN §4): prefix + base62 body + 6-char base62 CRC32.

Pure functions: no I/O. A mistyped or truncated value is rejected offline by its checksum.
"""

from __future__ import annotations

import secrets
import zlib

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(ALPHABET)}

KEY_PREFIX = "fl_dev_"
SECRET_PREFIX = "fl_sk_"  # noqa: S105 (a prefix, not a secret)
SESSION_PREFIX = "fl_sess_"
KEY_BODY_LEN = 32  # 190 bits
SECRET_BODY_LEN = 44  # 261 bits (>= 256 required)
CHECKSUM_LEN = 6  # base62^6 > 2^32 holds any CRC32


def _encode_base62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, rem = divmod(number, 62)
        chars.append(ALPHABET[rem])
    return "".join(reversed(chars))


def checksum(prefix: str, body: str) -> str:
    return _encode_base62(zlib.crc32(f"{prefix}{body}".encode()), CHECKSUM_LEN)


def _random_body(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def _make(prefix: str, length: int) -> str:
    body = _random_body(length)
    return f"{prefix}{body}{checksum(prefix, body)}"


def _is_valid(value: str, prefix: str, length: int) -> bool:
    if not value.startswith(prefix) or len(value) != len(prefix) + length + CHECKSUM_LEN:
        return False
    rest = value[len(prefix) :]
    if any(c not in _INDEX for c in rest):
        return False
    body, check = rest[:length], rest[length:]
    return secrets.compare_digest(checksum(prefix, body), check)


def new_api_key() -> str:
    return _make(KEY_PREFIX, KEY_BODY_LEN)


def new_api_secret() -> str:
    return _make(SECRET_PREFIX, SECRET_BODY_LEN)


def new_session_token() -> str:
    return _make(SESSION_PREFIX, SECRET_BODY_LEN)


def is_api_key(value: str) -> bool:
    return _is_valid(value, KEY_PREFIX, KEY_BODY_LEN)


def is_api_secret(value: str) -> bool:
    return _is_valid(value, SECRET_PREFIX, SECRET_BODY_LEN)


def is_session_token(value: str) -> bool:
    return _is_valid(value, SESSION_PREFIX, SECRET_BODY_LEN)


def key_hint(api_key: str) -> str:
    """What may be shown where the full key is not needed (logs never get even this)."""
    return f"{api_key[: len(KEY_PREFIX) + 4]}…{api_key[-4:]}"
