"""The operator CLI: db, accounts, credentials and keys, on a real SQLite data dir."""

from __future__ import annotations

import asyncio
import json
import stat
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from fluide import migrations
from fluide.cli.main import app
from fluide.identity.jwt_core import KeyEncryptor
from fluide.identity.keyring import ensure_signing_keys
from fluide.identity.models import AuditEvent, Credential, RevocationEvent, SigningKeyRow
from fluide.kit.clock import system_clock
from fluide.kit.infra import Infrastructure
from fluide.settings import Settings
from tests.client.support import LiveServer
from tests.conftest import Dev, bearer

runner = CliRunner()
HEAD = migrations.head()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("FLUIDE_DATABASE_URL", raising=False)
    monkeypatch.delenv("FLUIDE_REDIS_URL", raising=False)
    monkeypatch.setenv("FLUIDE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "80")  # a narrow terminal: tables must not cut cells
    return tmp_path


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


def create(email: str, *extra: str) -> dict[str, str]:
    result = invoke("accounts", "create", "--email", email, "--verified", "--json", *extra)
    assert result.exit_code == 0, result.output
    out: dict[str, str] = json.loads(result.stdout)
    return out


def query(env: Path, statement: object) -> list[object]:
    async def go() -> list[object]:
        rt = Infrastructure(Settings(data_dir=env))
        try:
            async with rt.sessionmaker() as session:
                return list((await session.execute(statement)).all())  # type: ignore[call-overload]
        finally:
            await rt.engine.dispose()

    return asyncio.run(go())


# ---- accounts create ----------------------------------------------------------------------------


def test_accounts_create_prints_ids_key_and_secret_once(env: Path) -> None:
    first = invoke("accounts", "create", "--email", "cli@example.com", "--verified", "--json")
    assert first.exit_code == 0, first.output
    out = json.loads(first.stdout)
    assert set(out) == {"accountId", "tenantId", "apiKey", "apiSecret"}
    assert out["apiKey"].startswith("fl_dev_")
    assert out["apiSecret"].startswith("fl_sk_")
    assert (env / "pepper").stat().st_mode & 0o777 == 0o600
    assert (env / "key-encryption-key").stat().st_mode & 0o777 == 0o600
    # A new database: said once, on stderr, with where and what to check.
    assert f"no database at {env / 'fluide.db'}; creating one" in first.stderr
    assert "--data-dir / FLUIDE_DATA_DIR" in first.stderr
    again = invoke("accounts", "create", "--email", "cli@example.com", "--json")
    assert again.exit_code == 1
    assert "EMAIL_ALREADY_REGISTERED" in again.stderr
    assert "no database" not in again.stderr and "Traceback" not in again.output


def test_accounts_create_shows_the_field_errors(env: Path) -> None:
    result = invoke("accounts", "create", "--email", "not-an-email", "--verified")
    assert result.exit_code == 1
    assert "VALIDATION_FAILED" in result.stderr
    assert "\n  email: " in result.stderr  # the field and its message, not just the code
    result = invoke("accounts", "create", "--email", "pw@example.com", "--password", "short")
    assert result.exit_code == 1 and "\n  password: " in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "address", ["a@example.com,b@example.com", "Eve <a@example.com>", "a\x00@example.com"]
)
def test_accounts_create_refuses_anything_but_one_mailbox(env: Path, address: str) -> None:
    result = invoke("accounts", "create", "--email", address, "--json")
    assert result.exit_code == 1
    assert "VALIDATION_FAILED" in result.stderr
    assert "\n  email: " in result.stderr  # what is wrong with it, from the validator
    assert "apiSecret" not in result.output and "Traceback" not in result.output


def test_verified_is_a_plain_flag(env: Path) -> None:
    assert invoke("accounts", "create", "--email", "a@example.com", "--verified", "true").exit_code
    assert invoke("accounts", "create", "--email", "a@example.com", "--no-verified").exit_code == 2
    assert "--verified " in invoke("accounts", "create", "--help").stdout
    assert "<bool>" not in invoke("accounts", "create", "--help").stdout
    create("v@example.com")
    plain = invoke("accounts", "create", "--email", "u@example.com", "--json")
    assert plain.exit_code == 0, plain.output
    listed = {a["email"]: a for a in json.loads(invoke("accounts", "list", "--json").stdout)}
    assert listed["v@example.com"]["verifiedAt"] is not None
    assert listed["u@example.com"]["verifiedAt"] is None


def test_accounts_create_output_writes_a_private_file(env: Path, tmp_path: Path) -> None:
    target = tmp_path / "creds.json"
    target.write_text("old")
    target.chmod(0o644)
    result = invoke(
        "accounts", "create", "--email", "o@example.com", "--verified", "-o", str(target)
    )
    assert result.exit_code == 0, result.output
    stored = json.loads(target.read_text())
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stored["apiSecret"].startswith("fl_sk_")
    assert stored["apiSecret"] not in result.output  # only in the file
    assert stored["apiKey"] in result.stderr and str(target) in result.stderr


def test_an_unwritable_output_fails_before_the_account_exists(env: Path, tmp_path: Path) -> None:
    result = invoke(
        "accounts", "create", "--email", "w@example.com", "-o", str(tmp_path / "no/such/f.json")
    )
    assert result.exit_code == 1 and "cannot write" in result.stderr
    assert not (env / "fluide.db").exists()


def test_a_failed_create_removes_the_output_file_it_made(env: Path, tmp_path: Path) -> None:
    target = tmp_path / "creds.json"
    result = invoke("accounts", "create", "--email", "bad", "-o", str(target))
    assert result.exit_code == 1
    assert not target.exists()


# ---- accounts list, credentials list / revoke ----------------------------------------------------


def test_accounts_list(env: Path) -> None:
    long_email = "a-rather-long-mailbox-name-for-the-table@some-company.example.com"
    a = create(long_email)
    result = invoke("accounts", "list")
    assert result.exit_code == 0, result.output
    assert long_email in result.stdout and a["accountId"] in result.stdout
    assert "…" not in result.stdout
    (row,) = json.loads(invoke("accounts", "list", "--json").stdout)
    assert row["accountId"] == a["accountId"] and row["tenantId"] == a["tenantId"]
    assert row["activeCredentials"] == 1


def test_credentials_list_filters_and_never_shows_a_secret(env: Path) -> None:
    a, b = create("a@example.com"), create("b@example.com")

    def listed(*args: str) -> list[str]:
        result = invoke("credentials", "list", "--json", *args)
        assert result.exit_code == 0, result.output
        for secret in (a["apiSecret"], b["apiSecret"]):
            assert secret not in result.output
        assert "secret_hash" not in result.output and "secretHash" not in result.output
        return [c["apiKey"] for c in json.loads(result.stdout)]

    assert listed() == [a["apiKey"], b["apiKey"]]
    assert listed("--account", "B@example.com") == [b["apiKey"]]
    assert listed("--account", a["accountId"]) == [a["apiKey"]]
    assert listed("--tenant", b["tenantId"]) == [b["apiKey"]]
    assert listed("--tenant", a["tenantId"], "--account", b["accountId"]) == []
    assert listed("--account", "nobody@example.com") == []
    table = invoke("credentials", "list")
    assert a["apiKey"] in table.stdout and b["apiKey"] in table.stdout  # uncut at 80 columns


def test_credentials_revoke_is_audited_and_feeds_the_change_feed(env: Path) -> None:
    a, b = create("a@example.com"), create("b@example.com")
    (cred_id,) = query(env, select(Credential.id).where(Credential.api_key == a["apiKey"]))
    result = invoke("credentials", "revoke", cred_id[0])
    assert result.exit_code == 0, result.output
    assert f"revoked {cred_id[0]}" in result.stdout
    statuses = dict(query(env, select(Credential.api_key, Credential.status)))  # type: ignore[arg-type]
    assert statuses == {a["apiKey"]: "revoked", b["apiKey"]: "active"}
    audit = query(
        env,
        select(AuditEvent.action, AuditEvent.actor_type, AuditEvent.actor_id).where(
            AuditEvent.credential_id == cred_id[0], AuditEvent.action == "credential.revoke"
        ),
    )
    assert [tuple(r) for r in audit] == [("credential.revoke", "system", "cli")]
    events = query(
        env, select(RevocationEvent.kind, RevocationEvent.subject, RevocationEvent.value)
    )
    assert ("credential_status", cred_id[0], "revoked") in [tuple(e) for e in events]
    # Again, by API key: nothing more is written.
    again = invoke("credentials", "revoke", a["apiKey"])
    assert again.exit_code == 0 and "already revoked" in again.stdout
    assert (
        len(query(env, select(AuditEvent.id).where(AuditEvent.action == "credential.revoke"))) == 1
    )


def test_credentials_revoke_an_unknown_credential(env: Path) -> None:
    create("a@example.com")
    for ident in ("cred_nope", "fl_dev_nope", "%", ""):
        result = invoke("credentials", "revoke", ident)
        assert result.exit_code == 1 and "no credential" in result.stderr
    statuses = [s for (s,) in query(env, select(Credential.status))]  # type: ignore[misc]
    assert statuses == ["active"]


def test_read_commands_never_create_a_database(env: Path) -> None:
    for args in (
        ("accounts", "list"),
        ("credentials", "list"),
        ("credentials", "revoke", "cred_x"),
        ("keys", "list"),
        ("db", "current"),
    ):
        result = invoke(*args)
        assert result.exit_code == 1, args
        assert f"no database at {env / 'fluide.db'}" in result.stderr
        assert "--data-dir" in result.stderr
    assert list(env.iterdir()) == []


def test_read_commands_refuse_a_schema_behind_head(env: Path) -> None:
    migrations.upgrade(f"sqlite+aiosqlite:///{env / 'fluide.db'}", "0002_gateway")
    result = invoke("keys", "list")
    assert result.exit_code == 1
    assert f"is at 0002_gateway, this fluide needs {HEAD}" in result.stderr
    assert "fluide db upgrade" in result.stderr


# ---- keys ---------------------------------------------------------------------------------------


def test_keys_list_is_read_only_and_uncut(env: Path) -> None:
    async def seed() -> None:
        rt = Infrastructure(Settings(data_dir=env))
        try:
            # What ``fluide serve`` does at start.
            await ensure_signing_keys(
                rt.sessionmaker,
                rt.settings.signing_alg,
                KeyEncryptor(rt.settings.kek_bytes()),
                rt.clock,
            )
            async with rt.sessionmaker() as session, session.begin():
                # A retired key whose tokens all expired long ago: a prune would remove it.
                old = (await session.scalars(select(SigningKeyRow))).first()
                assert old is not None
                session.add(
                    SigningKeyRow(
                        kid="retired-long-ago-" + "k" * 40,
                        alg=old.alg,
                        state="retired",
                        public_jwk=old.public_jwk,
                        private_key_encrypted=old.private_key_encrypted,
                        created_at=system_clock() - timedelta(days=30),
                        retired_at=system_clock() - timedelta(days=29),
                    )
                )
        finally:
            await rt.engine.dispose()

    assert invoke("db", "upgrade").exit_code == 0
    asyncio.run(seed())
    before = json.loads(invoke("keys", "list", "--json").stdout)
    assert sorted(k["state"] for k in before) == ["active", "next", "retired"]
    table = invoke("keys", "list")
    assert table.exit_code == 0, table.output
    for key in before:
        assert key["kid"] in table.stdout and key["createdAt"] in table.stdout
    assert "…" not in table.stdout
    assert json.loads(invoke("keys", "list", "--json").stdout) == before  # nothing changed
    # ``rotate`` is what prunes.
    rotated = invoke("keys", "rotate")
    assert rotated.exit_code == 0, rotated.output
    after = {k["kid"]: k["state"] for k in json.loads(invoke("keys", "list", "--json").stdout)}
    assert after["retired-long-ago-" + "k" * 40] == "removed"
    nxt = next(k["kid"] for k in before if k["state"] == "next")
    assert nxt in rotated.stdout and after[nxt] == "active"


def test_keys_rotate_on_a_fresh_data_dir(env: Path) -> None:
    rotated = invoke("keys", "rotate")
    assert rotated.exit_code == 0, rotated.output
    states = sorted(k["state"] for k in json.loads(invoke("keys", "list", "--json").stdout))
    assert states == ["active", "next", "retired"]


# ---- db ----------------------------------------------------------------------------------------


def test_db_upgrade_names_what_it_applied(env: Path) -> None:
    first = invoke("db", "upgrade")
    assert first.exit_code == 0, first.output
    every = ", ".join(migrations.pending(f"sqlite+aiosqlite:///{env / 'none.db'}"))
    assert first.stdout.strip() == f"applied {every} (now at head {HEAD})"
    second = invoke("db", "upgrade")
    assert second.stdout.strip() == f"already at head {HEAD}"
    assert (env / "fluide.db").stat().st_mode & 0o777 == 0o600


def test_db_current(env: Path) -> None:
    url = f"sqlite+aiosqlite:///{env / 'fluide.db'}"
    migrations.upgrade(url, "0002_gateway")
    behind = invoke("db", "current")
    assert behind.exit_code == 0, behind.output
    rest = ", ".join(migrations.pending(url))
    assert rest and rest.startswith("0003")
    assert (
        behind.stdout.strip()
        == f"0002_gateway; head is {HEAD}: `fluide db upgrade` would apply {rest}"
    )
    applied = invoke("db", "upgrade")
    assert applied.stdout.strip() == f"applied {rest} (now at head {HEAD})"
    assert invoke("db", "current").stdout.strip() == f"{HEAD} (head)"


# ---- one-line errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("not a url", "FLUIDE_DATABASE_URL is not a database URL"),
        ("postgresql://u:pw@host:54x2/db", "FLUIDE_DATABASE_URL is not a database URL"),
        ("mysql://u:hunter2secret@db.example.com/fluide", "does not support (mysql"),
        ("postgresql://u:hunter2secret@127.0.0.1:1/fluide", "cannot connect to the database"),
    ],
)
def test_a_bad_database_url_is_one_line_with_the_fix(
    env: Path, monkeypatch: pytest.MonkeyPatch, url: str, expected: str
) -> None:
    monkeypatch.setenv("FLUIDE_DATABASE_URL", url)
    for args in (("db", "upgrade"), ("accounts", "list"), ("keys", "rotate")):
        result = invoke(*args)
        assert result.exit_code == 1, (args, result.output)
        assert expected in result.stderr, result.stderr
        assert "FLUIDE_DATABASE_URL" in result.stderr
        assert "Traceback" not in result.output and "hunter2secret" not in result.output
        assert len(result.stderr.strip().splitlines()) <= 2, result.stderr


def test_an_invalid_setting_names_the_variable(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLUIDE_TOKEN_TTL_SECONDS", "soon")
    result = invoke("db", "upgrade")
    assert result.exit_code == 2
    assert "Invalid setting FLUIDE_TOKEN_TTL_SECONDS" in result.stderr
    assert "Traceback" not in result.output
    assert "soon" not in result.stderr  # a value may be a secret: never echoed


# ---- a revocation reaches the running servers -------------------------------------------------


def _cli_env(settings: Settings) -> dict[str, str]:
    assert settings.database_url is not None and settings.pepper is not None
    assert settings.key_encryption_key is not None
    return {
        "FLUIDE_DATA_DIR": str(settings.data_dir),
        "FLUIDE_DATABASE_URL": settings.database_url.get_secret_value(),
        "FLUIDE_PEPPER": settings.pepper.get_secret_value(),
        "FLUIDE_KEY_ENCRYPTION_KEY": settings.key_encryption_key.get_secret_value(),
        "FLUIDE_REDIS_URL": "",
    }


def test_a_cli_revocation_reaches_a_running_server(
    live: LiveServer, live_dev: Dev, settings: Settings
) -> None:
    with httpx.Client(base_url=live.base_url) as http:
        token = http.post("/api/v1/authorize/token", headers=live_dev.exchange_headers())
        headers = {**bearer(token.json()["accessToken"], live_dev)}
        assert http.get("/api/v1/hr/health", headers=headers).status_code == 200
        result = runner.invoke(
            app, ["credentials", "revoke", live_dev.credential_id], env=_cli_env(settings)
        )
        assert result.exit_code == 0, result.output
        deadline = time.monotonic() + 1.5  # the poll is 0.2 s here; the promise is 1 s
        while time.monotonic() < deadline:
            resp = http.get("/api/v1/hr/health", headers=headers)
            if resp.status_code != 200:
                break
            time.sleep(0.05)
        assert resp.status_code == 401 and resp.json()["code"] == "CREDENTIAL_REVOKED"
        again = http.post("/api/v1/authorize/token", headers=live_dev.exchange_headers())
        assert again.status_code == 401 and again.json()["code"] == "CREDENTIAL_REVOKED"


@pytest.mark.redis
def test_a_cli_revocation_is_pushed_on_the_deployments_channel(
    env: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import redis

    prefix = f"t{uuid.uuid4().hex[:10]}:"
    monkeypatch.setenv("FLUIDE_REDIS_URL", redis_url)
    monkeypatch.setenv("FLUIDE_REDIS_PREFIX", prefix)
    a = create("a@example.com")
    client = redis.Redis.from_url(redis_url)
    pubsub = client.pubsub()
    pubsub.psubscribe(f"{prefix}*", "fluide:*")
    try:
        assert pubsub.get_message(timeout=2) is not None  # the subscribe confirmations
        assert pubsub.get_message(timeout=2) is not None
        assert invoke("credentials", "revoke", a["apiKey"]).exit_code == 0
        message = pubsub.get_message(timeout=2)
        assert message is not None and message["channel"] == f"{prefix}changes".encode()
        # An already revoked credential changes nothing: no push.
        assert invoke("credentials", "revoke", a["apiKey"]).exit_code == 0
        assert pubsub.get_message(timeout=0.5) is None
    finally:
        pubsub.close()
        client.close()
