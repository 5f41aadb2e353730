"""``fluide token`` and ``fluide call``: the SDK from the shell (DESIGN §6).

Both read ``FLUIDE_BASE_URL``, ``FLUIDE_API_KEY`` and ``FLUIDE_API_SECRET`` and keep the access
token in the private token cache file (``FLUIDE_TOKEN_CACHE``, default
``~/.cache/fluide/tokens.json``) so consecutive commands do not re-exchange.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from fluide.client import (
    ConfigurationError,
    FluideClient,
    FluideError,
    RateLimitError,
    TokenCache,
    ValidationError,
)
from fluide.client._client import decode

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

Raw = Annotated[bool, typer.Option("--raw", help="Plain output for scripts (no formatting).")]
NoCache = Annotated[
    bool, typer.Option("--no-cache", help="Neither read nor write the token cache file.")
]


def _client(no_cache: bool) -> FluideClient:
    try:
        return FluideClient(token_cache=None if no_cache else TokenCache())
    except ConfigurationError as exc:
        _fail(exc, exit_code=2)


def _fail(exc: FluideError, exit_code: int = 1) -> NoReturn:
    err.print(f"[bold red]Error[/bold red] [bold]{exc.code}[/bold]", end="")
    err.print(f" (HTTP {exc.status})" if exc.status else "", end="", markup=False)
    err.print(f": {exc.message}", markup=False)
    if isinstance(exc, ValidationError):
        for field, messages in exc.errors.items():
            err.print(f"  {field}: {'; '.join(messages)}", markup=False)
    if isinstance(exc, RateLimitError) and exc.retry_after is not None:
        err.print(f"  retry after {exc.retry_after:g} s", markup=False)
    if exc.request_id:
        err.print(f"  request id: {exc.request_id}", markup=False)
    raise typer.Exit(exit_code)


def _usage(message: str) -> NoReturn:
    err.print(f"[bold red]Error[/bold red]: {message}")
    raise typer.Exit(2)


def _body(value: str | None) -> Any:
    """``--json`` takes JSON text, ``@file`` or ``-`` (stdin)."""
    if value is None:
        return None
    if value == "-":
        value = sys.stdin.read()
    elif value.startswith("@"):
        try:
            value = Path(value[1:]).read_text()
        except OSError as exc:
            _usage(f"cannot read {value[1:]}: {exc.strerror}")
    try:
        return json.loads(value)
    except ValueError as exc:
        _usage(f"--json is not valid JSON ({exc})")


def _show(value: Any, raw: bool) -> None:
    if value is None:
        return
    if raw:
        print(json.dumps(value) if not isinstance(value, str) else value)
    elif isinstance(value, str):
        out.print(value, markup=False)
    else:
        out.print_json(data=value)


def token(
    raw: Annotated[bool, typer.Option("--raw", help="Print only the access token (the JWT).")] = (
        False
    ),
    fresh: Annotated[bool, typer.Option("--fresh", help="Exchange even if cached.")] = False,
    no_cache: NoCache = False,
) -> None:
    """Exchange FLUIDE_API_KEY + FLUIDE_API_SECRET for an access token and print it."""
    with _client(no_cache) as fluide:
        try:
            result = fluide.token(force=fresh)
        except FluideError as exc:
            _fail(exc)
    if raw:
        print(result.access_token)
    else:
        _show(result.response, raw=False)


def call(
    method: Annotated[str, typer.Argument(help="HTTP method: GET, POST, PUT, PATCH, DELETE.")],
    path: Annotated[str, typer.Argument(help="Path, e.g. /api/v1/hr/health or hr/health.")],
    json_body: Annotated[
        str | None,
        typer.Option("--json", help="Request body: JSON text, @file, or - for stdin."),
    ] = None,
    raw: Raw = False,
    no_cache: NoCache = False,
) -> None:
    """Call the API with a cached, auto-refreshed token and print the response."""
    body = _body(json_body)
    with _client(no_cache) as fluide:
        try:
            response = fluide.send(method, path, json=body)
        except ValueError as exc:
            _usage(str(exc))
        except FluideError as exc:
            _fail(exc)
    if not raw:
        rid = response.headers.get("x-request-id", "-")
        err.print(f"[dim]HTTP {response.status_code}  request id {rid}[/dim]")
    _show(decode(response), raw)


def register(app: typer.Typer) -> None:
    app.command("token")(token)
    app.command("call")(call)
