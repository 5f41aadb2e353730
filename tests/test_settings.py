"""Settings read from the environment: the proxy setting is checked at start."""

from __future__ import annotations

import logging

import pytest
from pydantic import ValidationError

from fluide import settings as settings_module
from fluide.kit.proxies import TrustedProxies
from fluide.settings import Settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLUIDE_TRUSTED_PROXIES", raising=False)
    monkeypatch.delenv("FLUIDE_TRUST_FORWARDED_FOR", raising=False)
    monkeypatch.setattr(settings_module, "_warned_trust_forwarded_for", False)


def test_by_default_no_proxy_is_trusted() -> None:
    assert Settings().proxy_trust is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2", TrustedProxies(hops=2)),
        ("0", None),
        ("10.0.0.0/8,::1", TrustedProxies.parse("10.0.0.0/8,::1")),
    ],
)
def test_trusted_proxies_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: TrustedProxies | None
) -> None:
    monkeypatch.setenv("FLUIDE_TRUSTED_PROXIES", value)
    assert Settings().proxy_trust == expected


def test_a_bad_value_stops_the_settings_with_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLUIDE_TRUSTED_PROXIES", "10.0.0.0/33")
    with pytest.raises(ValidationError) as info:
        Settings()
    (error,) = info.value.errors()
    assert error["loc"] == ("trusted_proxies",)
    assert "'10.0.0.0/33' is neither a hop count nor an IP address or network" in error["msg"]


def test_the_old_boolean_means_one_hop_and_warns_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("FLUIDE_TRUST_FORWARDED_FOR", "true")
    caplog.set_level(logging.WARNING, logger="fluide.settings")
    assert Settings().proxy_trust == TrustedProxies(hops=1)
    assert Settings().proxy_trust == TrustedProxies(hops=1)
    warnings = [r for r in caplog.records if "FLUIDE_TRUST_FORWARDED_FOR" in r.getMessage()]
    assert len(warnings) == 1
    assert "FLUIDE_TRUSTED_PROXIES=1" in warnings[0].getMessage()
    assert warnings[0].levelno == logging.WARNING


def test_the_new_setting_wins_over_the_old_boolean(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("FLUIDE_TRUST_FORWARDED_FOR", "true")
    monkeypatch.setenv("FLUIDE_TRUSTED_PROXIES", "127.0.0.1")
    caplog.set_level(logging.WARNING, logger="fluide.settings")
    assert Settings().proxy_trust == TrustedProxies.parse("127.0.0.1")
    assert "ignored" in caplog.text
    monkeypatch.setenv("FLUIDE_TRUST_FORWARDED_FOR", "false")
    monkeypatch.delenv("FLUIDE_TRUSTED_PROXIES")
    assert Settings().proxy_trust is None


def test_the_default_audience_is_the_issuer_not_the_per_process_base_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`fluide serve` defaults FLUIDE_BASE_URL to its own host and port: were the audience
    derived from it, a token minted by one process would be refused by the next one."""
    monkeypatch.delenv("FLUIDE_AUDIENCE", raising=False)
    monkeypatch.setenv("FLUIDE_ISSUER", "https://connect.example.test")
    monkeypatch.setenv("FLUIDE_BASE_URL", "http://127.0.0.1:8001")
    one = Settings().token_audience
    monkeypatch.setenv("FLUIDE_BASE_URL", "http://127.0.0.1:8002")
    assert Settings().token_audience == one == "https://connect.example.test"
    monkeypatch.setenv("FLUIDE_AUDIENCE", "https://api.example.test")
    assert Settings().token_audience == "https://api.example.test"
