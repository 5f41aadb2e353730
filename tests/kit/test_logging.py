"""Logs never carry a key, a secret, a session token or a JWT."""

from __future__ import annotations

import json
import logging
import re
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from fluide.identity import formats
from fluide.kit.logging import JsonFormatter, RequestIdFilter, redact, request_id, sensitive


def test_redact_masks_every_credential_shape() -> None:
    key, secret, sess = formats.new_api_key(), formats.new_api_secret(), formats.new_session_token()
    jwt = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXZhbHVl"
    text = f"k={key} s={secret} t={sess} j={jwt} h=Bearer abcdefghijkl"
    out = redact(text)
    for value in (key, secret, sess, jwt, "abcdefghijkl"):
        assert value not in out
    assert "fl_dev_[redacted]" in out
    assert "fl_sk_[redacted]" in out


def test_json_formatter_redacts_messages_and_extras() -> None:
    secret = formats.new_api_secret()
    record = logging.makeLogRecord(
        {
            "name": "fluide.test",
            "levelname": "INFO",
            "levelno": 20,
            "msg": f"got {secret}",
            "args": None,
            "extra_field": secret,
        }
    )
    line = JsonFormatter().format(record)
    assert secret not in line
    payload = json.loads(line)
    assert payload["logger"] == "fluide.test"
    assert payload["level"] == "info"


# ---- the pre-check that keeps the regex off lines that cannot hold a credential -------------


def _slow_redact(text: str) -> str:
    """``redact`` without its pre-check: the regex on every text."""
    from fluide.kit import logging as kit_logging

    original = kit_logging._may_hold_credential
    kit_logging._may_hold_credential = lambda _text: True  # type: ignore[assignment]
    try:
        return redact(text)
    finally:
        kit_logging._may_hold_credential = original


_PIECES = st.sampled_from(
    ["fl_", "dev_", "sk_", "sess_", "eyJ", ".", "bearer", "BEARER", "Bearer ", "bEaReR\t", " "]
)
_CHARS = st.characters(
    codec=None,
    categories=("L", "N", "P", "Z", "S"),
    include_characters="flFLdevskeyJbarBRİıſK\u212a_.-",
)


@settings(max_examples=400)
@given(st.lists(st.one_of(_PIECES, st.text(_CHARS, max_size=12)), max_size=12))
def test_fast_and_slow_redaction_agree(parts: list[str]) -> None:
    text = "".join(parts)
    assert redact(text) == _slow_redact(text)
    assert sensitive(text) == (_slow_redact(text) != text)


def test_no_code_point_but_a_case_of_b_e_a_r_matches_them_ignoring_case() -> None:
    # The pre-check looks for "bearer" in text.lower(): it would miss a match only if some
    # other code point matched one of these letters under IGNORECASE. None does.
    for letter in "bear":
        pattern = re.compile(f"(?i:{letter})")
        for code in range(sys.maxunicode + 1):
            char = chr(code)
            if pattern.fullmatch(char):
                assert letter in char.lower(), (letter, hex(code))


def test_request_id_filter_adds_the_current_id_only() -> None:
    record = logging.makeLogRecord({"msg": "x"})
    RequestIdFilter().filter(record)
    assert not hasattr(record, "request_id")
    token = request_id.set("rid-1")
    try:
        RequestIdFilter().filter(record)
        assert record.request_id == "rid-1"
        explicit = logging.makeLogRecord({"msg": "x", "request_id": "given"})
        RequestIdFilter().filter(explicit)
        assert explicit.request_id == "given"  # an explicit id wins
    finally:
        request_id.reset(token)


def test_json_formatter_falls_back_for_what_orjson_refuses() -> None:
    record = logging.makeLogRecord({"name": "fluide.t", "msg": "m", "big": 2**70})
    assert json.loads(JsonFormatter().format(record))["big"] == 2**70
