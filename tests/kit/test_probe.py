"""The background probes (``kit.probe``): Redis's reports up and down as ``PING`` answers, logs
only on a change to down and never the URL."""

from __future__ import annotations

import logging

import pytest

from fluide.kit.faults import OUTAGES
from fluide.kit.probe import RedisProbe

DEAD = "redis://probe-user:probe-password-123@127.0.0.1:1/0"


async def test_an_unreachable_redis_is_down_and_its_url_never_logged(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The one-warning-per-outage record is process-wide (kit.faults): start from "all up".
    monkeypatch.setattr(OUTAGES, "_down", {})
    probe = RedisProbe(DEAD, timeout=0.5)
    probe.up = True  # it was up: the change to down is logged once
    with caplog.at_level(logging.WARNING, logger="fluide"):
        assert await probe.check() is False
        assert await probe.check() is False
    assert probe.status() == "down"
    assert [r.getMessage() for r in caplog.records] == ["redis unreachable"]
    for fragment in ("probe-password-123", "probe-user", "127.0.0.1:1"):
        assert fragment not in caplog.text
    await probe.stop()


async def test_a_result_older_than_max_age_is_down() -> None:
    probe = RedisProbe(DEAD, max_age=0.0)
    probe.up, probe.checked_at = True, float("-inf")
    assert probe.status() == "down"


@pytest.mark.redis
async def test_a_reachable_redis_is_up_and_stop_closes_it(redis_url: str) -> None:
    probe = RedisProbe(redis_url)
    await probe.start()
    try:
        assert probe.status() == "up"
    finally:
        await probe.stop()
    assert probe._client is None
