"""``fluide token`` and ``fluide call`` against the real app on a real socket."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fluide.cli.main import app
from fluide.identity import formats
from tests.client.support import LiveServer, exchange_rows
from tests.conftest import Dev

runner = CliRunner()


@pytest.fixture
def env(live: LiveServer, live_dev: Dev, tmp_path: Path) -> dict[str, str]:
    return {
        "FLUIDE_BASE_URL": live.base_url,
        "FLUIDE_API_KEY": live_dev.api_key,
        "FLUIDE_API_SECRET": live_dev.api_secret,
        "FLUIDE_TOKEN_CACHE": str(tmp_path / "cache" / "tokens.json"),
    }


def test_token_prints_the_response_and_raw_prints_the_jwt(
    env: dict[str, str], live: LiveServer, live_dev: Dev
) -> None:
    result = runner.invoke(app, ["token"], env=env)
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["tokenType"] == "Bearer" and body["accessToken"].count(".") == 2
    assert live_dev.api_secret not in result.output
    raw = runner.invoke(app, ["token", "--raw"], env=env)
    assert raw.exit_code == 0
    assert raw.stdout.strip() == body["accessToken"]  # from the cache file
    assert live.run(exchange_rows(live.runtime, live_dev.credential_id)) == 1
    fresh = runner.invoke(app, ["token", "--raw", "--fresh"], env=env)
    assert fresh.stdout.strip() != body["accessToken"]
    assert live.run(exchange_rows(live.runtime, live_dev.credential_id)) == 2
    cache = Path(env["FLUIDE_TOKEN_CACHE"])
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert live_dev.api_secret not in cache.read_text()


def test_call_get_and_post(env: dict[str, str], live: LiveServer, live_dev: Dev) -> None:
    result = runner.invoke(app, ["call", "GET", "/api/v1/hr/health"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["service"] == "fluide-hr"
    assert "HTTP 200" in result.stderr
    result = runner.invoke(app, ["call", "get", "authorize/current", "--raw"], env=env)
    assert result.exit_code == 0
    assert json.loads(result.stdout)["apiKey"] == live_dev.api_key
    assert result.stderr == ""
    result = runner.invoke(
        app,
        ["call", "POST", "authorize/rotate-secret", "--json", '{"graceSeconds": 3600}', "--raw"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["previousSecretExpiresAt"]
    assert live.run(exchange_rows(live.runtime, live_dev.credential_id)) == 1


def test_call_body_from_a_file(env: dict[str, str], tmp_path: Path) -> None:
    body = tmp_path / "body.json"
    body.write_text('{"graceSeconds": 60}')
    result = runner.invoke(
        app, ["call", "POST", "authorize/rotate-secret", "--json", f"@{body}"], env=env
    )
    assert result.exit_code == 0, result.output
    assert "apiSecret" in result.stdout


def test_api_errors_show_code_and_request_id(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["call", "GET", "/api/v1/auth-context/nope"], env=env)
    assert result.exit_code == 1
    assert "NOT_FOUND" in result.stderr and "HTTP 404" in result.stderr
    assert "request id: " in result.stderr
    result = runner.invoke(
        app, ["call", "POST", "authorize/rotate-secret", "--json", '{"graceSeconds": -5}'], env=env
    )
    assert result.exit_code == 1
    assert "VALIDATION_FAILED" in result.stderr and "graceSeconds" in result.stderr


def test_wrong_secret(env: dict[str, str], live_dev: Dev) -> None:
    wrong = formats.new_api_secret()  # well-formed, so the server is asked
    result = runner.invoke(app, ["token"], env={**env, "FLUIDE_API_SECRET": wrong})
    assert result.exit_code == 1
    assert "DEVELOPER_KEYS_INVALID" in result.stderr and "request id: " in result.stderr
    assert wrong not in result.output and result.stdout == ""


def test_mistyped_key_or_secret_is_a_configuration_error(
    env: dict[str, str], live_dev: Dev, live: LiveServer
) -> None:
    before = live.run(exchange_rows(live.runtime, live_dev.credential_id))
    for name, value in (
        ("FLUIDE_API_SECRET", live_dev.api_secret),
        ("FLUIDE_API_KEY", live_dev.api_key),
    ):
        typo = value[:-9] + ("x" if value[-9] != "x" else "y") + value[-8:]
        result = runner.invoke(app, ["token"], env={**env, name: typo})
        assert result.exit_code == 2, result.output
        assert "CLIENT_CONFIGURATION" in result.stderr and name in result.stderr
        assert typo not in result.output and value not in result.output
    assert live.run(exchange_rows(live.runtime, live_dev.credential_id)) == before


def test_usage_errors_exit_2(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["call", "POST", "hr/health", "--json", "{nope"], env=env)
    assert result.exit_code == 2 and "not valid JSON" in result.stderr
    result = runner.invoke(app, ["call", "GET", "https://elsewhere.example/x"], env=env)
    assert result.exit_code == 2 and "absolute URL" in result.stderr
    missing = {**env, "FLUIDE_API_SECRET": "", "FLUIDE_API_KEY": ""}
    result = runner.invoke(app, ["token"], env=missing)
    assert result.exit_code == 2
    assert "FLUIDE_API_KEY" in result.stderr and "FLUIDE_API_SECRET" in result.stderr
