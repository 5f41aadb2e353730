"""``fluide``: the command line (DESIGN §6)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from fluide.cli.admin import DataDir, accounts_app, db_app, keys_app, migrate
from fluide.cli.client_cmds import register as register_client_commands
from fluide.cli.common import console, run, settings_for

app = typer.Typer(
    help="Fluide Connect: developer platform service and client.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db_app, name="db")
app.add_typer(accounts_app, name="accounts")
app.add_typer(keys_app, name="keys")
register_client_commands(app)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    data_dir: DataDir = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes")] = 1,
    keep_alive: Annotated[
        int | None,
        typer.Option(
            "--keep-alive",
            min=1,
            max=3600,
            metavar="SECONDS",
            help="Close a keep-alive connection idle this long (default 5, or "
            "FLUIDE_KEEP_ALIVE_SECONDS). Behind a load balancer, set it longer than the "
            "balancer's idle timeout.",
        ),
    ] = None,
) -> None:
    """Apply migrations and serve the API, dashboard and docs."""
    import uvicorn

    from fluide.identity.jwt_core import KeyEncryptor
    from fluide.identity.keyring import ensure_signing_keys
    from fluide.kit.infra import Infrastructure

    settings = settings_for(data_dir)
    keep_alive_seconds = settings.keep_alive_seconds if keep_alive is None else keep_alive
    migrate(settings)

    async def prepare() -> None:
        # Create the first signing keys once, before workers start, so they agree.
        infra = Infrastructure(settings)
        encryptor = KeyEncryptor(settings.kek_bytes())
        try:
            await ensure_signing_keys(
                infra.sessionmaker, settings.signing_alg, encryptor, infra.clock
            )
        finally:
            await infra.engine.dispose()

    run(prepare())
    os.environ.setdefault("FLUIDE_DATA_DIR", str(settings.data_dir))
    os.environ.setdefault("FLUIDE_BASE_URL", f"http://{host}:{port}")
    where = "PostgreSQL" if not settings.is_sqlite else f"SQLite in {settings.data_dir.resolve()}"
    console.print(
        f"[bold]Fluide Connect[/bold] on http://{host}:{port}  ({where}, "
        f"{workers} worker{'s' if workers > 1 else ''})  docs: /docs"
    )
    uvicorn.run(
        "fluide.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        server_header=False,
        timeout_keep_alive=keep_alive_seconds,
    )
