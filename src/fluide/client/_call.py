"""One API call described as data, so the sync and the async client execute the same description.

A resource method builds a :class:`Call` (method, path, query, body, headers, how to read the
answer); ``FluideClient`` runs it with blocking I/O and ``AsyncFluideClient`` awaits it. Nothing
here does I/O.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, Generic, Literal, TypedDict, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from fluide.client._errors import APIError

R = TypeVar("R")
M = TypeVar("M", bound=BaseModel)

IDEMPOTENCY_HEADER = "Idempotency-Key"


class NotGiven:
    """The default of an optional argument that was not passed (``None`` is a value: on an
    update it clears the field)."""

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN = NotGiven()

Timeout = float | httpx.Timeout | None


class RequestOptions(TypedDict, total=False):
    """Per-call options every resource method takes as keyword arguments."""

    timeout: Timeout
    """Seconds (or an ``httpx.Timeout``) for this call instead of the client's."""
    extra_headers: Mapping[str, str]
    """Headers added to this call (the auth headers are the client's own and always win)."""


@dataclass(frozen=True)
class Call(Generic[R]):
    """What to send and how to read the answer. ``repeatable``: sending it twice does no more
    than sending it once (an idempotent method, or a POST the server deduplicates by its
    ``Idempotency-Key``), so the client may retry it after an ambiguous failure."""

    method: str
    path: str
    parse: Callable[[httpx.Response], R]
    params: dict[str, Any] | None = None
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    timeout: Timeout | NotGiven = NOT_GIVEN
    repeatable: bool = False
    current_jti: bool = False  # fill the path's ``{jti}`` with the current token's jti
    revoke: bool = False  # sign out the cached token (``FluideClient.revoke``)
    after: Callable[[R], None] | None = None  # a client-side effect of a success

    def next_page(self, page: int) -> Call[R]:
        return replace(self, params={**(self.params or {}), "page": page})


def path_segment(value: str) -> str:
    """A path parameter, quoted so it stays one segment of the intended route: ``?`` and ``#``
    are escaped; ``.`` / ``..`` (which URL normalisation would resolve) and any slash or
    backslash are refused. An escaped ``/`` (``%2F``) is not enough: servers, ours included,
    route on the decoded path, so ``"x/companies/y"`` would name another route of the API."""
    if not isinstance(value, str) or value in ("", ".", "..") or "/" in value or "\\" in value:
        raise ValueError(f"invalid path parameter {value!r}")
    return quote(value, safe="")


def fill(template: str, values: Mapping[str, str]) -> str:
    return template.format_map({k: path_segment(v) for k, v in values.items()})


def query(**values: Any) -> dict[str, Any]:
    """Query parameters by their wire names; unset (``NOT_GIVEN`` / ``None``) ones are left out."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if value is None or isinstance(value, NotGiven):
            continue
        out[name] = value.isoformat() if isinstance(value, date) else value
    return out


def body(model: type[BaseModel], values: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body: ``values`` (snake_case keys; nested dicts or models) validated into
    ``model`` and dumped in camelCase with only what was given."""
    given = {k: v for k, v in values.items() if not isinstance(v, NotGiven)}
    dumped: dict[str, Any] = model.model_validate(given).model_dump(
        mode="json", by_alias=True, exclude_unset=True
    )
    return dumped


def post_headers(idempotency_key: str | None, options: RequestOptions) -> dict[str, str]:
    """The headers of a POST: the caller's, plus an ``Idempotency-Key`` (theirs, or a fresh
    random one made here, once per call: every retry of the call then carries the same key)."""
    headers = dict(options.get("extra_headers") or {})
    if idempotency_key is not None:
        headers[IDEMPOTENCY_HEADER] = idempotency_key
    elif not any(name.lower() == "idempotency-key" for name in headers):
        headers[IDEMPOTENCY_HEADER] = uuid.uuid4().hex
    return headers


def invalid_response(response: httpx.Response) -> APIError:
    return APIError(
        "The server answered with a body this SDK cannot read",
        code="RESPONSE_INVALID",
        status=response.status_code,
        request_id=response.headers.get("x-request-id"),
    )


def model(cls: type[M]) -> Callable[[httpx.Response], M]:
    def parse(response: httpx.Response) -> M:
        try:
            return cls.model_validate(response.json())
        except ValueError as exc:  # not JSON, or not this shape (pydantic's is a ValueError)
            raise invalid_response(response) from exc

    return parse


def nothing(response: httpx.Response) -> None:
    return None


def content(response: httpx.Response) -> bytes:
    return response.content
