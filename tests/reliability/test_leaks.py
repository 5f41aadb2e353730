"""The leak scanner finds what it must (its own instance), and the session hooks are live."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import httpx

from fluide.identity import formats, jwt_core
from tests.conftest import CLIENT_ID, Dev, bearer, exchange
from tests.reliability.leaks import SCANNER, WINDOW, LeakScanner


def _record(msg: str, **extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord({"name": "fluide.test", "msg": msg, "levelno": 20})
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_scanner_finds_full_and_truncated_values(tmp_path: Path) -> None:
    scanner = LeakScanner()
    secret = formats.new_api_secret()
    other = formats.new_api_secret()
    scanner.register(secret, "secret")
    scanner.register(other, "secret")
    scanner.feed_record(_record("nothing here"))
    assert scanner.scan() == []

    scanner.feed_record(_record("exchange failed", api_secret=secret[-(WINDOW + 3) :]))
    log_file = tmp_path / "server.stderr"
    log_file.write_text(f"INFO something Bearer {other}\n")
    scanner.add_file(log_file)
    found = scanner.scan()
    assert len(found) == 2
    assert all(secret not in str(leak) and other not in str(leak) for leak in found)


def test_scanner_reads_tracebacks() -> None:
    scanner = LeakScanner()
    token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0." + "s" * 20 + "SIGNATUREtail0123456789"
    scanner.register(token, "access token")
    try:
        raise ValueError(f"bad token {token}")
    except ValueError:
        record = logging.getLogger("fluide.test").makeRecord(
            "fluide.test", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    scanner.feed_record(record)
    assert len(scanner.scan()) == 1


def test_session_hooks_are_installed() -> None:
    assert getattr(formats.new_api_secret, "_leak_wrapped", False)
    assert getattr(formats.new_session_token, "_leak_wrapped", False)
    assert getattr(jwt_core.mint, "_leak_wrapped", False)
    seen = SCANNER.records_seen
    logging.getLogger("fluide.test").info("a harmless line")
    assert SCANNER.records_seen == seen + 1


async def test_issued_values_are_registered_and_misuse_is_not_logged(
    client: httpx.AsyncClient, dev: Dev
) -> None:
    body = await exchange(client, dev)
    assert body["accessToken"][-WINDOW:] in SCANNER.values
    assert dev.api_secret[-WINDOW:] in SCANNER.values
    # The secret sent where it must never go: refused, and (checked at session end) not logged.
    headers = {**bearer(body["accessToken"], dev), "X-Fluide-Api-Secret": dev.api_secret}
    resp = await client.get("/api/v1/hr/health", headers=headers)
    assert resp.status_code == 400 and resp.json()["code"] == "API_SECRET_NOT_ALLOWED"
    assert dev.api_secret not in resp.text
    # A wrong secret on the exchange: denied, audited, and not logged either.
    resp = await client.post(
        "/api/v1/authorize/token",
        headers={
            "X-Fluide-Api-Key": dev.api_key,
            "X-Fluide-Api-Secret": formats.new_api_secret(),
            "X-Fluide-Client-Id": CLIENT_ID,
        },
    )
    assert resp.status_code == 401
