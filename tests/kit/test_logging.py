"""Logs never carry a key, a secret, a session token or a JWT."""

from __future__ import annotations

import json
import logging

from fluide.identity import formats
from fluide.kit.logging import JsonFormatter, redact


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
