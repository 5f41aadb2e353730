"""Well-formed (checksummed) but made-up credentials for tests whose server is a fake: the
clients refuse a malformed key or secret before sending anything (DESIGN §4)."""

from __future__ import annotations

from fluide.identity import formats


def _make(prefix: str, body: str) -> str:
    return f"{prefix}{body}{formats.checksum(prefix, body)}"


KEY = _make(formats.KEY_PREFIX, "k" * formats.KEY_BODY_LEN)
SECRET = _make(formats.SECRET_PREFIX, "s" * formats.SECRET_BODY_LEN)
assert formats.is_api_key(KEY) and formats.is_api_secret(SECRET)
