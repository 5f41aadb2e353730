"""Operator commands that work on the database directly: db, accounts, credentials, keys.

Signatures only at import time; each command imports ``fluide.cli.operations`` (SQLAlchemy,
Alembic, the identity services) when it runs.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from fluide.cli.common import (
    AsJson,
    CliError,
    DataDir,
    console,
    friendly,
    print_json,
    print_table,
    run,
    settings_for,
    write_private,
)

db_app = typer.Typer(help="Database schema.", no_args_is_help=True, rich_markup_mode=None)
accounts_app = typer.Typer(help="Developer accounts.", no_args_is_help=True, rich_markup_mode=None)
credentials_app = typer.Typer(
    help="API credentials (keys) of every tenant.", no_args_is_help=True, rich_markup_mode=None
)
keys_app = typer.Typer(help="JWT signing keys.", no_args_is_help=True, rich_markup_mode=None)


# ---- db ---------------------------------------------------------------------------------------


@db_app.command("upgrade")
@friendly
def db_upgrade(data_dir: DataDir = None) -> None:
    """Apply every pending migration and name them."""
    from fluide import migrations
    from fluide.cli import operations

    settings = settings_for(data_dir)
    applied = operations.prepare(settings, warn_if_new=False)
    head = migrations.head()
    if applied:
        print(f"applied {', '.join(applied)} (now at head {head})")
    else:
        print(f"already at head {head}")


@db_app.command("current")
@friendly
def db_current(data_dir: DataDir = None) -> None:
    """Show the database's schema revision and whether it is at head."""
    from fluide import migrations
    from fluide.cli import operations

    settings = settings_for(data_dir)
    current, head = operations.revision(settings), migrations.head()
    if current == head:
        print(f"{current} (head)")
    elif current is None:
        print(f"no schema yet; head is {head}: run `fluide db upgrade`")
    else:
        pending = ", ".join(migrations.pending(settings.resolved_database_url))
        print(f"{current}; head is {head}: `fluide db upgrade` would apply {pending}")


# ---- accounts ---------------------------------------------------------------------------------


PARTNER_HELP = "A partner tenant: acts for client companies (docs/partners.md)"


@accounts_app.command("create")
@friendly
def accounts_create(
    email: Annotated[str, typer.Option(help="Account email")],
    password: Annotated[str | None, typer.Option(help="Dashboard password (optional)")] = None,
    tenant_name: Annotated[str | None, typer.Option(help="Tenant name")] = None,
    partner: Annotated[bool, typer.Option("--partner", help=PARTNER_HELP)] = False,
    verified: Annotated[
        bool, typer.Option("--verified", help="Mark the email verified (no code needed)")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write the JSON (with the secret) to this file, mode 0600, instead of stdout.",
        ),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Create an account with its tenant and a credential; shows the secret once."""
    from fluide.cli import operations

    settings = settings_for(data_dir)
    # Open the file first: a path we cannot write must fail before the secret exists.
    created_file = output is not None and not output.exists()
    if output is not None:
        try:
            write_private(output, b"")
        except OSError as exc:
            raise CliError(f"cannot write {output}: {exc.strerror}") from exc
    try:
        operations.prepare(settings)
        # An operator's tool: an address already registered is said plainly
        # (EMAIL_ALREADY_REGISTERED), an invalid one with the reason (`friendly`); enumeration
        # is a concern of the public sign-up only.
        out = run(
            operations.create_account(
                settings, email, password, tenant_name, verified, partner=partner
            )
        )
    except BaseException:
        if created_file and output is not None:
            output.unlink(missing_ok=True)
        raise
    if output is not None:
        write_private(output, (json.dumps(out, indent=2) + "\n").encode())
        console.print(
            f"account {out['accountId']}, tenant {out['tenantId']}, key {out['apiKey']}; "
            f"the secret is in {output} (mode 0600)",
            markup=False,
        )
    elif as_json:
        print_json(out)
    else:
        print(f"account   {out['accountId']}\ntenant    {out['tenantId']}")
        print(f"apiKey    {out['apiKey']}\napiSecret {out['apiSecret']}")
        console.print("[yellow]The secret is shown once: store it now.[/yellow]")


@accounts_app.command("list")
@friendly
def accounts_list(data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Every developer account, with its tenant and active credentials."""
    from rich.table import Table

    from fluide.cli import operations

    rows = run(operations.list_accounts(settings_for(data_dir)))
    if as_json:
        print_json(rows)
        return
    table = Table("account", "email", "tenant", "verified", "created", "active keys")
    for r in rows:
        table.add_row(
            r["accountId"],
            r["email"],
            r["tenantId"],
            r["verifiedAt"] or "no",
            r["createdAt"],
            str(r["activeCredentials"]),
        )
    print_table(table)


# ---- credentials ------------------------------------------------------------------------------


@credentials_app.command("list")
@friendly
def credentials_list(
    account: Annotated[
        str | None, typer.Option("--account", help="Only this account's (id or email)")
    ] = None,
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant's")] = None,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """API credentials: id, key, owner, status and dates. Never a secret."""
    from rich.table import Table

    from fluide.cli import operations

    rows = run(operations.list_credentials(settings_for(data_dir), account, tenant))
    if as_json:
        print_json(rows)
        return
    table = Table("credential", "name", "api key", "env", "status", "email", "tenant", "created")
    for r in rows:
        status = r["status"] + (" (secret exposed)" if r["secretExposedAt"] else "")
        table.add_row(
            r["credentialId"],
            r["name"],
            r["apiKey"],
            r["environment"],
            status,
            r["email"],
            r["tenantId"],
            r["createdAt"],
        )
    print_table(table)


@credentials_app.command("revoke")
@friendly
def credentials_revoke(
    credential: Annotated[str, typer.Argument(help="Credential id (cred_…) or its API key")],
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Revoke a credential: its secret stops exchanging and every running server refuses its
    tokens within a second. Audited."""
    from fluide.cli import operations

    out, was_active = run(operations.revoke_credential(settings_for(data_dir), credential))
    if as_json:
        print_json(out)
    elif was_active:
        print(f"revoked {out['credentialId']} ({out['apiKey']}, {out['email']})")
    else:
        print(f"{out['credentialId']} was already revoked ({out['revokedAt']})")


POLICY_FIELDS = {
    "expiry": "expires_at",
    "cidrs": "allowed_cidrs",
    "rate-limit": "rate_limit",
    "scopes": "scopes",
}


def _policy_values(
    expires_at: str | None,
    allow: list[str] | None,
    rate_limit: str | None,
    scopes: str | None,
    clear: list[str],
) -> dict[str, object]:
    values: dict[str, object] = {}
    if expires_at is not None:
        try:
            values["expires_at"] = datetime.fromisoformat(expires_at)
        except ValueError:
            raise CliError(f"--expires-at: not an ISO 8601 date and time: {expires_at!r}") from None
    if allow:
        values["allowed_cidrs"] = allow
    if rate_limit is not None:
        values["rate_limit"] = rate_limit
    if scopes is not None:
        values["scopes"] = scopes
    for name in clear:
        if name not in POLICY_FIELDS:
            raise CliError(f"--clear takes one of {', '.join(POLICY_FIELDS)}, not {name!r}")
        values[POLICY_FIELDS[name]] = None
    return values


@credentials_app.command("policy")
@friendly
def credentials_policy(
    credential: Annotated[str, typer.Argument(help="Credential id (cred_…) or its API key")],
    expires_at: Annotated[
        str | None,
        typer.Option("--expires-at", help="ISO 8601 with a zone, e.g. 2027-06-30T00:00:00Z"),
    ] = None,
    allow: Annotated[
        list[str] | None, typer.Option("--allow", help="An allowed network (repeat for more)")
    ] = None,
    rate_limit: Annotated[
        str | None, typer.Option("--rate-limit", help="e.g. 10/second (replaces the global)")
    ] = None,
    scopes: Annotated[str | None, typer.Option("--scopes", help='e.g. "hr:read"')] = None,
    clear: Annotated[
        list[str] | None,
        typer.Option("--clear", help="Lift one: expiry, cidrs, rate-limit or scopes"),
    ] = None,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Change a credential's policy (docs/credentials.md): only the options given change.
    Every running server applies it within a second. Audited."""
    from fluide.cli import operations
    from fluide.identity.credentials import PolicyChange

    values = _policy_values(expires_at, allow, rate_limit, scopes, clear or [])
    if not values:
        raise CliError(
            "nothing to change: give --expires-at, --allow, --rate-limit, --scopes or --clear"
        )
    out = run(
        operations.set_credential_policy(
            settings_for(data_dir),
            credential,
            PolicyChange(**values),  # type: ignore[arg-type]
        )
    )
    if as_json:
        print_json(out)
        return
    print(
        f"{out['credentialId']}: scopes {' '.join(out['scopes'])}; "
        f"expires {out['expiresAt'] or 'never'}; "
        f"from {', '.join(out['allowedCidrs'] or ['anywhere'])}; "
        f"rate limit {out['rateLimit'] or 'global'}"
    )


# ---- signing keys -----------------------------------------------------------------------------


@keys_app.command("rotate")
@friendly
def keys_rotate(data_dir: DataDir = None) -> None:
    """Promote the published next key to signing; retire the current one. A key signs only once
    it has been published for FLUIDE_SIGNING_KEY_PUBLISH_SECONDS (at least the JWKS max-age):
    a rotation asked sooner is scheduled, and this says when the new key starts signing."""
    from fluide.cli import operations
    from fluide.kit.clock import iso_z

    settings = settings_for(data_dir)
    operations.prepare(settings)
    kid, starts, now = run(operations.rotate_keys(settings))
    wait = max(0, math.ceil((starts - now).total_seconds()))
    if wait == 0:
        print(f"now signing with {kid} (from {iso_z(starts)}, in 0 s)")
    else:
        print(
            f"{kid} starts signing at {iso_z(starts)} (in {wait} s, once it has been published "
            "longer than JWKS caches keep the key set); the current key signs until then"
        )


@keys_app.command("list")
@friendly
def keys_list(data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Every signing key and its state (reads only: creates, promotes and prunes nothing)."""
    from rich.table import Table

    from fluide.cli import operations

    rows = run(operations.list_keys(settings_for(data_dir)))
    if as_json:
        print_json(rows)
        return
    table = Table("kid", "alg", "state", "created", "activated", "retired")
    for r in rows:
        table.add_row(
            r["kid"],
            r["alg"],
            r["state"],
            r["createdAt"],
            r["activatedAt"] or "",
            r["retiredAt"] or "",
        )
    print_table(table)


@keys_app.command("revoke")
@friendly
def keys_revoke(
    kid: Annotated[str, typer.Argument(help="The kid of a next or retired key")],
    data_dir: DataDir = None,
) -> None:
    """Stop trusting a signing key now (a leaked key): it leaves the JWKS and every running
    server refuses its tokens within a second. The active key: rotate first. Audited."""
    from fluide.cli import operations

    before = run(operations.revoke_key(settings_for(data_dir), kid))
    if before == "removed":
        print(f"{kid} was already removed")
    else:
        print(f"revoked {kid} (was {before}): its tokens are refused from now on")


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
    app.add_typer(accounts_app, name="accounts")
    app.add_typer(credentials_app, name="credentials")
    app.add_typer(keys_app, name="keys")
