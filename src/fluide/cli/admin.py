"""Operator commands that work on the database directly: db, accounts, keys."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from fluide.cli.common import console, print_json, run, settings_for
from fluide.identity import credentials, keyring
from fluide.identity.audit import Actor
from fluide.identity.jwt_core import KeyEncryptor
from fluide.identity.models import Account
from fluide.identity.part import Identity
from fluide.kit import datadir
from fluide.kit.infra import Infrastructure
from fluide.migrations import upgrade
from fluide.settings import Settings

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data directory (default ./.fluide or FLUIDE_DATA_DIR)"),
]
CLI_ACTOR = Actor("system", "cli", None, None)

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
accounts_app = typer.Typer(help="Developer accounts.", no_args_is_help=True)
keys_app = typer.Typer(help="JWT signing keys.", no_args_is_help=True)


def migrate(settings: Settings) -> None:
    datadir.secure(settings.data_dir)
    upgrade(settings.resolved_database_url)


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None) -> None:
    """Apply every pending migration."""
    settings = settings_for(data_dir)
    migrate(settings)
    console.print("[green]database is up to date[/green]")


@accounts_app.command("create")
def accounts_create(
    email: Annotated[str, typer.Option(help="Account email")],
    password: Annotated[str | None, typer.Option(help="Dashboard password (optional)")] = None,
    tenant_name: Annotated[str | None, typer.Option(help="Tenant name")] = None,
    verified: Annotated[bool, typer.Option("--verified", help="Mark the email verified")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    data_dir: DataDir = None,
) -> None:
    """Create an account with its tenant and a credential; prints the secret once."""
    settings = settings_for(data_dir)
    migrate(settings)

    async def go() -> dict[str, str]:
        infra = Infrastructure(settings)
        identity = Identity(infra)
        try:
            async with infra.sessionmaker() as session, session.begin():
                account, _code = await identity.accounts.sign_up(
                    session, CLI_ACTOR, email=email, password=password, tenant_name=tenant_name
                )
                if verified:
                    issued = await identity.accounts.mark_verified(session, CLI_ACTOR, account)
                else:
                    issued = await _credential_unverified(identity, session, account)
                assert issued is not None
                return {
                    "accountId": account.id,
                    "tenantId": account.tenant_id,
                    "apiKey": issued.credential.api_key,
                    "apiSecret": issued.api_secret,
                }
        finally:
            await infra.engine.dispose()

    try:
        out = run(go())
    except Exception as exc:
        # An operator's tool: an address already registered is said plainly
        # (EMAIL_ALREADY_REGISTERED); enumeration is a concern of the public sign-up only.
        code = getattr(exc, "code", type(exc).__name__)
        console.print(f"[red]error[/red] {code}: {getattr(exc, 'message', 'failed')}")
        for field, problems in (getattr(exc, "errors", None) or {}).items():
            console.print(f"  {field}: {'; '.join(problems)}", markup=False)
        raise typer.Exit(1) from exc
    if as_json:
        print_json(out)
    else:
        console.print(f"account  {out['accountId']}\ntenant   {out['tenantId']}")
        console.print(f"apiKey   {out['apiKey']}")
        console.print(f"apiSecret {out['apiSecret']}  [yellow](shown once: store it now)[/yellow]")


async def _credential_unverified(
    identity: Identity, session: AsyncSession, account: Account
) -> credentials.IssuedCredential:
    return await identity.credentials.create(
        session,
        CLI_ACTOR,
        tenant_id=account.tenant_id,
        account_id=account.id,
        name="Default key",
    )


@keys_app.command("rotate")
def keys_rotate(data_dir: DataDir = None) -> None:
    """Promote the published next key to signing; retire the current one."""
    settings = settings_for(data_dir)
    migrate(settings)

    async def go() -> str:
        infra = Infrastructure(settings)
        encryptor = KeyEncryptor(settings.kek_bytes())
        try:
            async with infra.sessionmaker() as session, session.begin():
                await keyring.ensure_keys(session, settings.signing_alg, encryptor, infra.clock())
            async with infra.sessionmaker() as session, session.begin():
                row = await keyring.rotate(
                    session,
                    settings.signing_alg,
                    encryptor,
                    infra.clock(),
                    keyring.max_token_age(settings),
                    timedelta(seconds=settings.signing_key_publish_seconds),
                )
                return row.kid
        finally:
            await infra.engine.dispose()

    try:
        kid = run(go())
    except keyring.RotationTooSoon as exc:
        console.print("[red]the next key has not been published long enough; try later[/red]")
        raise typer.Exit(1) from exc
    console.print(f"[green]now signing with[/green] {kid}")


@keys_app.command("list")
def keys_list(
    data_dir: DataDir = None, as_json: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """Every signing key and its state."""
    settings = settings_for(data_dir)
    migrate(settings)

    async def go() -> list[dict[str, str | None]]:
        infra = Infrastructure(settings)
        encryptor = KeyEncryptor(settings.kek_bytes())
        try:
            async with infra.sessionmaker() as session, session.begin():
                await keyring.ensure_keys(session, settings.signing_alg, encryptor, infra.clock())
                await keyring.prune(session, infra.clock(), keyring.max_token_age(settings))
            async with infra.sessionmaker() as session:
                return [
                    {
                        "kid": r.kid,
                        "alg": r.alg,
                        "state": r.state,
                        "createdAt": r.created_at.isoformat(),
                        "activatedAt": r.activated_at.isoformat() if r.activated_at else None,
                        "retiredAt": r.retired_at.isoformat() if r.retired_at else None,
                    }
                    for r in await keyring.list_keys(session)
                ]
        finally:
            await infra.engine.dispose()

    rows = run(go())
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
    console.print(table)
