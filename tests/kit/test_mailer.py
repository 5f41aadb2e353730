"""Outgoing mail: .eml files in the outbox, and no one-time code in the logs."""

from __future__ import annotations

import email
import logging
from pathlib import Path

import pytest

from fluide.kit.mailer import Mailer


async def test_outbox_message_and_log_line_without_the_code(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    mailer = Mailer("Fluide <no-reply@x.test>", tmp_path / "outbox")
    with caplog.at_level(logging.INFO, logger="fluide.mail"):
        await mailer.send("dev@example.com", "Your code: 123456", "The code is 123456.")
    files = list((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 1
    msg = email.message_from_bytes(files[0].read_bytes())
    assert msg["To"] == "dev@example.com"
    assert "123456" in str(msg["Subject"])
    (record,) = caplog.records
    assert record.path == str(files[0])
    assert "123456" not in caplog.text
    assert "123456" not in str(vars(record))
    assert not list((tmp_path / "outbox").glob("*.tmp"))
