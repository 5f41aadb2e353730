"""``fluide keys revoke KID`` (docs/deploy.md §7): a leaked next or retired key leaves the
published set at once, its private key erased, audited, and a running server refuses its tokens
within a second; the active key cannot be revoked (rotate first)."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import jwt
import pytest
from sqlalchemy import select
from typer.testing import Result

from fluide.cli.main import app
from fluide.identity.models import AuditEvent, RevocationEvent, SigningKeyRow
from fluide.settings import JWKS_MAX_AGE_SECONDS, MIN_KEY_PUBLISH_SECONDS, Settings
from tests.cli.test_admin import _cli_env, env, invoke, query, runner
from tests.client.support import LiveServer
from tests.conftest import Dev, bearer

__all__ = ["env"]  # the fixture, shared with test_admin


def _states() -> dict[str, str]:
    return {k["kid"]: k["state"] for k in json.loads(invoke("keys", "list", "--json").stdout)}


def _one(states: dict[str, str], state: str) -> str:
    (kid,) = [k for k, s in states.items() if s == state]
    return kid


def test_revoking_a_retired_key_removes_and_erases_it_once(env: Path) -> None:
    assert invoke("keys", "rotate").exit_code == 0
    retired = _one(_states(), "retired")
    events_before = len(query(env, select(RevocationEvent.id)))
    result = invoke("keys", "revoke", retired)
    assert result.exit_code == 0, result.output
    assert f"revoked {retired} (was retired)" in result.output
    assert _states()[retired] == "removed"
    ((private, removed_at),) = query(
        env,
        select(SigningKeyRow.private_key_encrypted, SigningKeyRow.removed_at).where(
            SigningKeyRow.kid == retired
        ),
    )
    assert private == b"" and removed_at is not None
    assert len(query(env, select(RevocationEvent.id))) == events_before + 1
    ((details,),) = query(
        env, select(AuditEvent.details).where(AuditEvent.action == "signing_key.revoked")
    )
    assert details == {"kid": retired}
    # Again: nothing to do, nothing written.
    again = invoke("keys", "revoke", retired)
    assert again.exit_code == 0 and "already removed" in again.output
    assert len(query(env, select(RevocationEvent.id))) == events_before + 1


def test_the_active_key_cannot_be_revoked(env: Path) -> None:
    assert invoke("keys", "rotate").exit_code == 0
    before = _states()
    active = _one(before, "active")
    result: Result = invoke("keys", "revoke", active)
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "fluide keys rotate" in result.output
    assert _states() == before


@pytest.mark.parametrize("kid", ["no-such-kid", "", "' OR 1=1 --", "k" * 300])
def test_an_unknown_kid_is_one_line_and_changes_nothing(env: Path, kid: str) -> None:
    assert invoke("keys", "rotate").exit_code == 0
    before = _states()
    result = invoke("keys", "revoke", kid)
    assert result.exit_code == 1
    assert "fluide keys list" in result.output and "Traceback" not in result.output
    assert _states() == before


def test_a_revoked_key_is_refused_by_a_running_server(
    live: LiveServer, live_dev: Dev, settings: Settings
) -> None:
    cli_env = _cli_env(settings)
    with httpx.Client(base_url=live.base_url) as http:
        token = http.post("/api/v1/authorize/token", headers=live_dev.exchange_headers())
        access = token.json()["accessToken"]
        kid = jwt.get_unverified_header(access)["kid"]
        headers = bearer(access, live_dev)
        assert runner.invoke(app, ["keys", "rotate"], env=cli_env).exit_code == 0
        # Retired, the key still verifies what it signed ...
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            jwks = http.get("/.well-known/jwks.json").json()["keys"]
            if any(k["kid"] != kid for k in jwks if k.get("use", "sig") == "sig"):
                break
            time.sleep(0.05)
        assert http.get("/api/v1/hr/health", headers=headers).status_code == 200
        # ... until it is revoked: then every process refuses it within a second.
        result = runner.invoke(app, ["keys", "revoke", kid], env=cli_env)
        assert result.exit_code == 0, result.output
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            resp = http.get("/api/v1/hr/health", headers=headers)
            if resp.status_code != 200:
                break
            time.sleep(0.05)
        assert resp.status_code == 401 and resp.json()["code"] == "TOKEN_INVALID"
        assert kid not in http.get("/.well-known/jwks.json").text
        # A fresh exchange signs with the new key and works.
        fresh = http.post("/api/v1/authorize/token", headers=live_dev.exchange_headers())
        assert fresh.status_code == 200
        assert jwt.get_unverified_header(fresh.json()["accessToken"])["kid"] != kid


def test_a_quick_second_rotate_says_when_its_key_starts_signing(env: Path) -> None:
    first = invoke("keys", "rotate")  # the first start's next key: in every JWKS ever served
    assert first.exit_code == 0, first.output
    assert re.fullmatch(r"now signing with \S+ \(from \S+Z, in 0 s\)\n", first.stdout)
    asked = datetime.now(UTC)
    second = invoke("keys", "rotate")
    assert second.exit_code == 0, second.output
    match = re.match(r"(\S+) starts signing at (\S+Z) \(in (\d+) s,", second.stdout)
    assert match is not None, second.stdout
    kid, starts, wait = match[1], datetime.fromisoformat(match[2]), int(match[3])
    assert JWKS_MAX_AGE_SECONDS <= wait <= MIN_KEY_PUBLISH_SECONDS + 1
    assert abs((starts - asked).total_seconds() - wait) < 3
    row = next(k for k in json.loads(invoke("keys", "list", "--json").stdout) if k["kid"] == kid)
    assert row["state"] == "active"
    assert abs(datetime.fromisoformat(row["activatedAt"]) - starts).total_seconds() < 0.001
    # The key it replaces still signs until then: revoking it is refused.
    old = first.stdout.split()[3]
    refused = invoke("keys", "revoke", old)
    assert refused.exit_code == 1 and "still signs" in refused.output
