"""Outgoing mail: SMTP when ``FLUIDE_SMTP_URL`` is set, else ``.eml`` files in the outbox."""

from __future__ import annotations

import asyncio
import logging
import os
import smtplib
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import unquote, urlparse

from fluide.kit import datadir
from fluide.kit.ids import new_id

log = logging.getLogger("fluide.mail")


class Mailer:
    def __init__(self, sender: str, outbox: Path, smtp_url: str | None = None) -> None:
        self.sender = sender
        self.outbox = outbox
        self.smtp_url = smtp_url

    def _message(self, to: str, subject: str, body: str) -> EmailMessage:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = self.sender, to, subject
        msg.set_content(body)
        return msg

    async def send(self, to: str, subject: str, body: str) -> None:
        msg = self._message(to, subject, body)
        if self.smtp_url:
            await asyncio.to_thread(self._smtp, msg)
            # Never the subject or body: they carry one-time codes.
            log.info("mail sent over SMTP", extra={"to_domain": to.rpartition("@")[2]})
            return
        path = await asyncio.to_thread(self._write, msg)
        log.info("mail written to outbox", extra={"path": str(path)})

    def _write(self, msg: EmailMessage) -> Path:
        # Owner-only (kit.datadir): the messages carry one-time codes.
        datadir.private_dir(self.outbox)
        path = self.outbox / f"{new_id('mail')}.eml"
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, datadir.FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(msg.as_bytes())
        tmp.rename(path)  # readers never see a half-written message
        return path

    def _smtp(self, msg: EmailMessage) -> None:
        assert self.smtp_url
        url = urlparse(self.smtp_url)
        secure = url.scheme == "smtps"
        port = url.port or (465 if secure else 25)
        smtp_cls = smtplib.SMTP_SSL if secure else smtplib.SMTP
        with smtp_cls(url.hostname or "localhost", port, timeout=15) as smtp:
            if url.scheme == "smtp+starttls":
                smtp.starttls()
            if url.username:
                smtp.login(unquote(url.username), unquote(url.password or ""))
            smtp.send_message(msg)
