"""``fluide token`` and ``fluide call``: the SDK from the shell (DESIGN §6).

Both read ``FLUIDE_BASE_URL``, ``FLUIDE_API_KEY`` and ``FLUIDE_API_SECRET`` and keep the access
token in the private token cache file (``FLUIDE_TOKEN_CACHE``, default
``~/.cache/fluide/tokens.json``) so consecutive commands do not re-exchange. The SDK (and
httpx) is imported when one of them runs, not at ``fluide --help``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn
from urllib.parse import urlsplit

import typer
from rich.console import Console

from fluide.cli.common import stdout_bytes, write_private

if TYPE_CHECKING:
    import httpx

    from fluide.client import FluideClient, FluideError

out = Console(highlight=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)
DEFAULT_BASE_URL_HINT = "http://127.0.0.1:8000"

Raw = Annotated[
    bool,
    typer.Option("--raw", help="The body as the server sent it (JSON compact, bytes untouched)."),
]
Workspace = Annotated[
    str | None,
    typer.Option("--workspace", help="Partners: act for a client company of this workspace."),
]
Company = Annotated[
    str | None, typer.Option("--company", help="Partners: the client company to act for.")
]
NoCache = Annotated[
    bool, typer.Option("--no-cache", help="Neither read nor write the token cache file.")
]


def check_base_url(value: str | None) -> None:
    """``FLUIDE_BASE_URL`` must be an http(s) URL with a host: say so before httpx does."""
    if not value:
        return  # the client names every missing variable at once
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        _usage(
            f"FLUIDE_BASE_URL must be an http:// or https:// URL with a host (got {value!r}): "
            f"e.g. export FLUIDE_BASE_URL={DEFAULT_BASE_URL_HINT}"
        )


def _client(no_cache: bool) -> FluideClient:
    from fluide.client import ConfigurationError, FluideClient, TokenCache

    check_base_url(os.environ.get("FLUIDE_BASE_URL"))
    try:
        return FluideClient(token_cache=None if no_cache else TokenCache())
    except ConfigurationError as exc:
        _fail(exc, exit_code=2)


def _fail(exc: FluideError, exit_code: int = 1) -> NoReturn:
    from fluide.client import FluideConnectionError, RateLimitError, ValidationError

    if isinstance(exc, FluideConnectionError):
        base = os.environ.get("FLUIDE_BASE_URL", "the server")
        if exc.code == "TIMEOUT":
            err.print(f"Error: {base} did not answer in time (TIMEOUT)", markup=False)
        else:
            err.print(
                f"Error: cannot reach {base}: is `fluide serve` running there? "
                "(check FLUIDE_BASE_URL)",
                markup=False,
            )
        raise typer.Exit(exit_code)
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


def _is_text(content_type: str) -> bool:
    kind = content_type.split(";")[0].strip().lower()
    return kind.startswith("text/") or kind.endswith(("json", "xml")) or kind == ""


def _show(response: httpx.Response, raw: bool) -> None:
    """JSON pretty (or compact with ``--raw``); text as text; any other body as bytes with
    ``--raw``, else a note: binary never goes through a text decoder."""
    if response.status_code == 204 or not response.content:
        return
    content_type = response.headers.get("content-type", "")
    if "json" in content_type:
        value = response.json()
        if raw:
            print(json.dumps(value) if not isinstance(value, str) else value)
        else:
            out.print_json(data=value)
    elif raw:
        stdout_bytes(response.content)
    elif _is_text(content_type):
        out.print(response.text, markup=False)
    else:
        err.print(
            f"{len(response.content)} bytes of {content_type}: save them with --output FILE "
            "(or --raw > FILE)",
            markup=False,
        )


def token(
    raw: Annotated[bool, typer.Option("--raw", help="Print only the access token (the JWT).")] = (
        False
    ),
    fresh: Annotated[bool, typer.Option("--fresh", help="Exchange even if cached.")] = False,
    no_cache: NoCache = False,
) -> None:
    """Exchange FLUIDE_API_KEY + FLUIDE_API_SECRET for an access token and print it."""
    from fluide.client import FluideError

    with _client(no_cache) as fluide:
        try:
            result = fluide.token(force=fresh)
        except FluideError as exc:
            _fail(exc)
    if raw:
        print(result.access_token)
    else:
        out.print_json(data=result.response)


def call(
    method: Annotated[str, typer.Argument(help="HTTP method: GET, POST, PUT, PATCH, DELETE.")],
    path: Annotated[str, typer.Argument(help="Path, e.g. /api/v1/hr/health or hr/health.")],
    json_body: Annotated[
        str | None,
        typer.Option("--json", help="Request body: JSON text, @file, or - for stdin."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write the response body to FILE, bytes untouched (mode 0600)."
        ),
    ] = None,
    raw: Raw = False,
    no_cache: NoCache = False,
    workspace: Workspace = None,
    company: Company = None,
) -> None:
    """Call the API with a cached, auto-refreshed token and print the response."""
    from fluide.client import FluideError

    if (workspace is None) != (company is None):
        _usage("--workspace and --company go together (docs/partners.md)")
    body = _body(json_body)
    with _client(no_cache) as fluide:
        try:
            target = fluide.acting_as(workspace, company) if workspace and company else fluide
            response = target.send(method, path, json=body)
        except ValueError as exc:
            _usage(str(exc))
        except FluideError as exc:
            _fail(exc)
    if not raw:
        rid = response.headers.get("x-request-id", "-")
        err.print(f"[dim]HTTP {response.status_code}  request id {rid}[/dim]")
    if output is not None:
        try:
            write_private(output, response.content)
        except OSError as exc:
            _usage(f"cannot write {output}: {exc.strerror}")
        if not raw:
            err.print(f"{len(response.content)} bytes written to {output}", markup=False)
        return
    _show(response, raw)


def register(app: typer.Typer) -> None:
    app.command("token")(token)
    app.command("call")(call)
