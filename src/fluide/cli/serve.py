"""``fluide serve``: bind, migrate, create the first keys, say where everything is, serve.

Two HTTP servers, the same app: Granian (Rust, the default; DESIGN §5) and uvicorn
(``--server uvicorn``). The address is bound first, by us: a port that is taken fails at once
with one line (nothing migrated, no banner), and the banner only appears once the address is
ours. Uvicorn's ``Server`` and ``Multiprocess`` take that bound socket as ``uvicorn.run`` does
after its own ``bind_socket``; Granian binds its own listening socket in Rust, so for it ours
is a check that is closed just before Granian binds the same address (SO_REUSEADDR on both).

With several workers, ``PROMETHEUS_MULTIPROC_DIR`` (unless set already) is ``<data dir>/metrics``,
emptied before the workers start: each worker writes its metrics there and ``/metrics`` sums
them all (``gateway.metrics``).
"""

from __future__ import annotations

import errno
import os
import socket
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fluide.cli.common import DEFAULT_DATA_DIR, CliError, DataDir, console, friendly, run
from fluide.cli.common import settings_for as _settings_for

if TYPE_CHECKING:
    from fluide.settings import Settings

APP = "fluide.app:app_from_env"


class Server(StrEnum):
    """The HTTP server ``fluide serve`` runs the app on."""

    granian = "granian"
    uvicorn = "uvicorn"


# Seconds a worker is given to finish its requests and lifespan shutdown on Ctrl+C / SIGTERM
# before it is killed (uvicorn: timeout_graceful_shutdown; Granian: workers_kill_timeout).
GRACEFUL_SECONDS = 20


def bind(host: str, port: int) -> socket.socket:
    """A bound (not yet listening) TCP socket, as uvicorn would bind it; a ``CliError`` that
    says what to do when the address is taken or not ours."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise CliError(
                f"port {port} on {host} is already in use (another `fluide serve`?): stop it, "
                f"or choose another port: fluide serve --port {port + 1} "
                f"(make serve PORT={port + 1})"
            ) from exc
        raise CliError(
            f"cannot listen on {host}:{port} ({exc.strerror}): check --host and --port"
        ) from exc
    sock.set_inheritable(True)
    return sock


def serve_on(sock: socket.socket, *, server: str, **options: Any) -> None:
    """Serve on the bound address with the chosen server."""
    if server == "granian":
        sock.close()
        serve_granian(**options)
    else:
        serve_uvicorn(sock, **options)


def serve_granian(*, host: str, port: int, workers: int, keep_alive_seconds: int) -> None:
    """Granian workers (each builds the app with ``app_from_env``; lifespan runs per worker).

    Granian's HTTP/1 ``header_read_timeout`` is also how long an idle keep-alive connection
    waits for its next request (measured: an idle connection closes after exactly that time),
    so ``--keep-alive`` sets it; it bounds a slow sender of headers alike. Requests' header
    size is bounded by ``max_buffer_size`` (Granian's default, 400 KiB of buffer) and bodies by
    our own limits middleware (kit.limits), as under uvicorn."""
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings

    Granian(
        APP,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        factory=True,
        workers=workers,
        http=HTTPModes.http1,
        http1_settings=HTTP1Settings(header_read_timeout=keep_alive_seconds * 1000),
        websockets=False,
        log_enabled=False,  # our own logging (kit.logging) says what matters
        log_access=False,
        workers_kill_timeout=GRACEFUL_SECONDS,
        respawn_failed_workers=workers > 1,
    ).serve()


def serve_uvicorn(
    sock: socket.socket, *, host: str, port: int, workers: int, keep_alive_seconds: int
) -> None:
    """Uvicorn on the bound socket (one process, or ``workers`` processes sharing it)."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(
        APP,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        server_header=False,
        timeout_keep_alive=keep_alive_seconds,
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
    )
    if config.workers > 1:
        Multiprocess(config, sockets=[sock]).run()
        return
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    if not server.started:
        raise typer.Exit(1)  # uvicorn logged why (the app failed to start)


def _program() -> str:
    """How the user ran us, for the hints: ``.venv/bin/fluide`` from ``make serve``."""
    argv0 = sys.argv[0] if sys.argv else ""
    return argv0 if Path(argv0).name == "fluide" else "fluide"


def banner(settings: Settings, host: str, port: int, workers: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host  # noqa: S104 (a comparison)
    base = f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"
    where = f"SQLite in {settings.data_dir.resolve()}" if settings.is_sqlite else "PostgreSQL"
    create = f"{_program()} accounts create --email you@example.com --verified"
    if settings.is_sqlite and settings.data_dir != DEFAULT_DATA_DIR:
        create += f" --data-dir {settings.data_dir}"
    lines = [
        f"[bold]Fluide Connect[/bold] on {base}  ({where}, "
        f"{workers} worker{'s' if workers > 1 else ''})",
        f"  dashboard  {base}/connect   sign up, API keys, usage, audit log",
        f"  API docs   {base}/docs      interactive reference (try it out)",
        f"  first key  {create}",
    ]
    if settings.smtp_url is None:
        outbox = settings.data_dir / "outbox"
        lines.append(f"             or sign up on the dashboard (the code lands in {outbox})")
    lines.append("Ctrl+C stops it.")
    return "\n".join(lines)


@friendly
def serve(
    host: Annotated[str, typer.Option(help="Bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port")] = 8000,
    data_dir: DataDir = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes")] = 1,
    server: Annotated[
        Server, typer.Option(help="HTTP server: granian (Rust, the default) or uvicorn")
    ] = Server.granian,
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
    settings = _settings_for(data_dir)
    _check_routes(settings)
    keep_alive_seconds = settings.keep_alive_seconds if keep_alive is None else keep_alive
    sock = bind(host, port)
    try:
        from fluide.cli import operations

        operations.prepare(settings, warn_if_new=False)
        run(_first_keys(settings))
        metrics_dir(settings, workers)
        os.environ.setdefault("FLUIDE_DATA_DIR", str(settings.data_dir))
        os.environ.setdefault("FLUIDE_BASE_URL", f"http://{host}:{port}")
        console.print(banner(settings, host, port, workers), soft_wrap=True)
        serve_on(
            sock,
            server=server.value,
            host=host,
            port=port,
            workers=workers,
            keep_alive_seconds=keep_alive_seconds,
        )
    finally:
        sock.close()


def metrics_dir(settings: Settings, workers: int) -> Path | None:
    """The workers' shared metrics directory (``None``: one process, none needed), emptied: an
    earlier run's counts must not be added to this one's."""
    configured = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if configured is None:
        if workers == 1:
            return None
        configured = str((settings.data_dir / "metrics").resolve())
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = configured
    path = Path(configured)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)
    return path


def _check_routes(settings: Settings) -> None:
    """A bad FLUIDE_ROUTES_FILE stops here, in one line, before any worker starts."""
    from fluide.gateway.upstreams import RoutesFileError, load_routes

    try:
        load_routes(settings.routes_file)
    except RoutesFileError as exc:
        raise CliError(f"FLUIDE_ROUTES_FILE: {exc}", exit_code=2) from exc


async def _first_keys(settings: Settings) -> None:
    """Create the first signing keys once, before workers start, so they agree."""
    from fluide.identity.jwt_core import KeyEncryptor
    from fluide.identity.keyring import ensure_signing_keys
    from fluide.kit.infra import Infrastructure

    infra = Infrastructure(settings)
    try:
        await ensure_signing_keys(
            infra.sessionmaker,
            settings.signing_alg,
            KeyEncryptor(settings.kek_bytes()),
            infra.clock,
        )
    finally:
        await infra.engine.dispose()
