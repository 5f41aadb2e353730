"""``fluide credentials policy``: a credential's policy from the command line, audited and on
the change feed like the API's; bad values refused with one line and nothing changed."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from fluide.identity.models import AuditEvent, Credential, RevocationEvent
from tests.cli.test_admin import create, env, invoke, query

__all__ = ["env"]  # the fixture, shared with test_admin


def test_policy_is_set_audited_and_fed(env: Path) -> None:
    a = create("a@example.com")
    result = invoke(
        "credentials",
        "policy",
        a["apiKey"],
        "--expires-at",
        "2099-06-30T00:00:00Z",
        "--allow",
        "127.0.0.8/29",
        "--allow",
        "2001:db8::/32",
        "--rate-limit",
        "10/second",
        "--scopes",
        "hr:read",
        "--json",
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["allowedCidrs"] == ["127.0.0.8/29", "2001:db8::/32"]
    assert out["rateLimit"] == "10/second" and out["scopes"] == ["hr:read"]
    assert out["expiresAt"].startswith("2099-06-30T00:00:00")
    ((cred_id,),) = query(env, select(Credential.id))  # type: ignore[misc]
    assert [tuple(r) for r in query(env, select(RevocationEvent.kind, RevocationEvent.subject))][
        -1
    ] == ("policy", cred_id)
    actions = [r for (r,) in query(env, select(AuditEvent.action))]  # type: ignore[misc]
    assert "credential.policy" in actions
    cleared = invoke("credentials", "policy", cred_id, "--clear", "cidrs", "--clear", "scopes")
    assert cleared.exit_code == 0, cleared.output
    assert "from anywhere" in cleared.stdout and "rate limit 10/second" in cleared.stdout


def test_bad_policies_are_one_line_and_change_nothing(env: Path) -> None:
    a = create("a@example.com")
    for args in (
        ("--expires-at", "2020-01-01T00:00:00Z"),
        ("--expires-at", "2099-01-01T00:00:00"),
        ("--expires-at", "soon"),
        ("--allow", "10.1.2.3/8"),
        ("--allow", "x" * 5000),
        ("--rate-limit", "fast"),
        ("--scopes", "admin"),
        ("--clear", "everything"),
        (),
    ):
        result = invoke("credentials", "policy", a["apiKey"], *args)
        assert result.exit_code == 1, (args, result.output)
        assert result.stderr.strip().count("\n") == 0, result.stderr
        assert "Traceback" not in result.output
    unknown = invoke("credentials", "policy", "cred_nope", "--rate-limit", "1/second")
    assert unknown.exit_code == 1 and "no credential" in unknown.stderr
    rows = query(
        env, select(Credential.expires_at, Credential.allowed_cidrs, Credential.rate_limit)
    )
    assert [tuple(r) for r in rows] == [(None, None, None)]
