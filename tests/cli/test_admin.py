"""The operator CLI: accounts create, keys list/rotate, db upgrade."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fluide.cli.main import app

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("FLUIDE_DATABASE_URL", raising=False)
    monkeypatch.setenv("FLUIDE_DATA_DIR", str(tmp_path))
    return tmp_path


def test_accounts_create_prints_ids_key_and_secret_once(env: Path) -> None:
    result = runner.invoke(
        app, ["accounts", "create", "--email", "cli@example.com", "--verified", "--json"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert set(out) == {"accountId", "tenantId", "apiKey", "apiSecret"}
    assert out["apiKey"].startswith("fl_dev_")
    assert out["apiSecret"].startswith("fl_sk_")
    pepper = env / "pepper"
    assert pepper.stat().st_mode & 0o777 == 0o600
    assert (env / "key-encryption-key").stat().st_mode & 0o777 == 0o600
    again = runner.invoke(app, ["accounts", "create", "--email", "cli@example.com", "--json"])
    assert again.exit_code == 1
    assert "EMAIL_ALREADY_REGISTERED" in again.output


@pytest.mark.parametrize(
    "address", ["a@example.com,b@example.com", "Eve <a@example.com>", "a\x00@example.com"]
)
def test_accounts_create_refuses_anything_but_one_mailbox(env: Path, address: str) -> None:
    result = runner.invoke(app, ["accounts", "create", "--email", address, "--json"])
    assert result.exit_code == 1
    assert "VALIDATION_FAILED" in result.output
    assert "email:" in result.output  # what is wrong with it, from the validator
    assert "apiSecret" not in result.output


def test_keys_list_and_rotate(env: Path) -> None:
    listed = runner.invoke(app, ["keys", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    states = {k["kid"]: k["state"] for k in json.loads(listed.stdout)}
    assert sorted(states.values()) == ["active", "next"]
    nxt = next(kid for kid, state in states.items() if state == "next")
    rotated = runner.invoke(app, ["keys", "rotate"])
    assert rotated.exit_code == 0, rotated.output
    assert nxt in rotated.output
    after = {
        k["kid"]: k["state"]
        for k in json.loads(runner.invoke(app, ["keys", "list", "--json"]).stdout)
    }
    assert after[nxt] == "active"
    assert sorted(after.values()) == ["active", "next", "retired"]


def test_db_upgrade_is_idempotent(env: Path) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert (env / "fluide.db").stat().st_mode & 0o777 == 0o600
