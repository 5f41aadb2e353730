"""The API key and secret formats of DESIGN §4, checked offline before any request.

``prefix + base62 body + 6-char base62 CRC32 of prefix + body``. A CRC32 catches every
single-character typo, every swap of two neighbours and every truncation, so a mistyped key
fails here with a configuration error instead of as a 401 from the server.

The server's ``fluide.identity.formats`` is the authority (it generates and verifies); this is
the client's own small copy because the SDK installs without the server. It is deliberately
looser where the server may grow: DESIGN §4 promises *at least* 32 key characters and 256 bits of
secret, so a longer body passes here. ``tests/client/test_formats.py`` checks both against each
other: everything the server generates passes, and what the server would refuse for a bad
checksum fails here too.
"""

from __future__ import annotations

import zlib

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BASE62 = frozenset(ALPHABET)
KEY_PREFIX = "fl_dev_"
SECRET_PREFIX = "fl_sk_"  # noqa: S105 - a prefix, not a secret
CHECKSUM_LEN = 6
MIN_KEY_BODY = 32  # DESIGN §4: at least 32 base62 characters
MIN_SECRET_BODY = 43  # 43 base62 characters hold 256 bits


def checksum(prefix: str, body: str) -> str:
    """The 6-character base62 CRC32 of ``prefix + body``, most significant digit first."""
    number = zlib.crc32(f"{prefix}{body}".encode())
    digits = []
    for _ in range(CHECKSUM_LEN):
        number, rem = divmod(number, 62)
        digits.append(ALPHABET[rem])
    return "".join(reversed(digits))


def well_formed(value: str, prefix: str, min_body: int) -> bool:
    """``value`` is ``prefix`` + at least ``min_body`` base62 characters + their checksum."""
    if not value.startswith(prefix) or len(value) < len(prefix) + min_body + CHECKSUM_LEN:
        return False
    rest = value[len(prefix) :]
    if not _BASE62.issuperset(rest):
        return False
    # Not secret-dependent timing: the caller's own configuration is checked, nothing remote.
    return checksum(prefix, rest[:-CHECKSUM_LEN]) == rest[-CHECKSUM_LEN:]


def is_api_key(value: str) -> bool:
    return well_formed(value, KEY_PREFIX, MIN_KEY_BODY)


def is_api_secret(value: str) -> bool:
    return well_formed(value, SECRET_PREFIX, MIN_SECRET_BODY)
