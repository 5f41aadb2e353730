"""``fluide token`` and ``fluide call`` against the real app on a real socket."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from fluide.cli.main import app
from fluide.identity import formats
from tests.client.support import LiveServer, exchange_rows
from tests.conftest import Dev, bearer
from tests.products.helpers import employee
from tests.reliability.server import free_port

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


def test_a_server_that_is_not_running(env: dict[str, str]) -> None:
    base = f"http://127.0.0.1:{free_port()}"
    for args in (["token"], ["call", "GET", "hr/health"]):
        result = runner.invoke(app, args, env={**env, "FLUIDE_BASE_URL": base})
        assert result.exit_code == 1
        assert result.stderr.strip() == (
            f"Error: cannot reach {base}: is `fluide serve` running there? (check FLUIDE_BASE_URL)"
        )


@pytest.mark.parametrize("base", ["127.0.0.1:8000", "localhost", "ftp://127.0.0.1:8000", "http://"])
def test_a_base_url_without_a_scheme_or_host(env: dict[str, str], base: str) -> None:
    result = runner.invoke(app, ["call", "GET", "hr/health"], env={**env, "FLUIDE_BASE_URL": base})
    assert result.exit_code == 2
    assert "FLUIDE_BASE_URL must be an http:// or https:// URL with a host" in result.stderr
    assert "export FLUIDE_BASE_URL=http://127.0.0.1:8000" in result.stderr
    assert "UnsupportedProtocol" not in result.output


def _payslip_pdf(live: LiveServer, live_dev: Dev) -> tuple[str, bytes]:
    """A payslip made through the API; its path and the PDF as httpx received it."""
    with httpx.Client(base_url=live.base_url + "/api/v1") as http:
        token = http.post("/authorize/token", headers=live_dev.exchange_headers()).json()
        h = bearer(token["accessToken"], live_dev)
        resp = http.post("/hr/employees", json=employee("E1"), headers=h)
        assert resp.status_code == 201, resp.text
        run = http.post(
            "/payroll/runs",
            json={"periodMonth": 11, "periodYear": 2026, "payDate": "2026-11-28"},
            headers=h,
        ).json()
        path = f"utils/documents/payslips/{run['payslips'][0]['id']}.pdf"
        direct = http.get(f"/{path}", headers=h)
        assert direct.headers["content-type"] == "application/pdf"
        return path, direct.content


def _same_pdf(a: bytes, b: bytes) -> bool:
    # fpdf2 stamps the creation time (to the second) and an id made from it: the rest must be
    # equal byte for byte.
    stamp = re.compile(rb"/CreationDate \(D:[^)]*\)|/ID \[<[0-9A-F]+><[0-9A-F]+>\]")
    return stamp.sub(b"", a) == stamp.sub(b"", b)


def test_call_output_writes_the_bytes_untouched(
    env: dict[str, str], live: LiveServer, live_dev: Dev, tmp_path: Path
) -> None:
    path, direct = _payslip_pdf(live, live_dev)
    assert direct.startswith(b"%PDF-")
    with pytest.raises(UnicodeDecodeError):
        direct.decode()  # binary: a text round trip would corrupt it
    target = tmp_path / "payslip.pdf"
    result = runner.invoke(app, ["call", "GET", path, "--output", str(target)], env=env)
    assert result.exit_code == 0, result.output
    assert _same_pdf(target.read_bytes(), direct)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert f"bytes written to {target}" in result.stderr and result.stdout == ""
    raw = runner.invoke(app, ["call", "GET", path, "--raw"], env=env)
    assert raw.exit_code == 0
    assert _same_pdf(raw.stdout_bytes, direct)
    shown = runner.invoke(app, ["call", "GET", path], env=env)
    assert shown.exit_code == 0 and shown.stdout == ""  # no binary on a terminal
    assert "application/pdf: save them with --output FILE" in shown.stderr


def test_call_acts_for_a_company(live: LiveServer, tmp_path: Path) -> None:
    from tests.identity.partners.support import create_partner

    partner = live.run(create_partner(live.runtime))
    with httpx.Client(base_url=live.base_url) as http:
        token = http.post("/api/v1/authorize/token", headers=partner.exchange_headers()).json()
        h = bearer(token["accessToken"], partner)
        wid = http.post("/api/v1/workspaces", json={"name": "W"}, headers=h).json()["id"]
        company = {"name": "C", "countryCode": "NG", "currency": "NGN"}
        cid = http.post(f"/api/v1/workspaces/{wid}/companies", json=company, headers=h).json()["id"]
    env = {
        "FLUIDE_BASE_URL": live.base_url,
        "FLUIDE_API_KEY": partner.api_key,
        "FLUIDE_API_SECRET": partner.api_secret,
        "FLUIDE_TOKEN_CACHE": str(tmp_path / "partner-tokens.json"),
    }
    acting = ["--workspace", wid, "--company", cid]
    body = json.dumps(employee("CLI1"))
    made = runner.invoke(app, ["call", "POST", "hr/employees", "--json", body, *acting], env=env)
    assert made.exit_code == 0, made.output
    listed = runner.invoke(app, ["call", "GET", "hr/employees", "--raw", *acting], env=env)
    assert [e["employeeCode"] for e in json.loads(listed.stdout)["items"]] == ["CLI1"]
    own = runner.invoke(app, ["call", "GET", "hr/employees", "--raw"], env=env)
    assert json.loads(own.stdout)["total"] == 0
    alone = runner.invoke(app, ["call", "GET", "hr/employees", "--workspace", wid], env=env)
    assert alone.exit_code != 0 and "--company" in alone.output
