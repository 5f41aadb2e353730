"""Resources written once for both clients.

Each API operation is one method decorated with :class:`operation` (or :class:`paginated`)
that names the HTTP method and path and, from the caller's arguments, builds a :class:`Spec`:
the query, the body, how to read the answer. Nothing in it does I/O. Looked up on a resource
of the sync client, the method returns the result; on the async client, a coroutine of it (a
list returns a page, or an ``AsyncPager``). The type checker sees the same: the descriptor's
``__get__`` is overloaded on ``Resource[Sync]`` and ``Resource[Async]``, and the method's
parameters are carried over with a ``ParamSpec``, so ``client.hr.employees.create(...)`` is
checked argument by argument on both clients.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeVar, overload

import httpx
from pydantic import BaseModel

from fluide.client._call import NOT_GIVEN, Call, RequestOptions, fill, post_headers
from fluide.client._pagination import AsyncPager, PageData, SyncPage
from fluide.client._retry import IDEMPOTENT

if TYPE_CHECKING:
    from fluide.client._auth import FluideAuth

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T", bound=BaseModel)


class Sync:
    """Marker: the resource belongs to ``FluideClient`` (methods return results)."""


class Async:
    """Marker: the resource belongs to ``AsyncFluideClient`` (methods return awaitables)."""


ModeT = TypeVar("ModeT", Sync, Async)


class Executor:
    """What a client gives its resources (``FluideClient`` and ``AsyncFluideClient``)."""

    auth: FluideAuth

    def _bind(self, run: Callable[..., Call[Any]]) -> Callable[..., Any]:
        raise NotImplementedError

    def _bind_list(self, run: Callable[..., Call[Any]]) -> Callable[..., Any]:
        raise NotImplementedError


class Resource(Generic[ModeT]):
    """A group of operations (``client.hr.employees``) or of resources (``client.hr``)."""

    def __init__(self, client: Executor) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"<{type(self).__name__} resource>"


@dataclass(frozen=True)
class Spec(Generic[R]):
    """What one call of an operation sends, beyond its method and path."""

    parse: Callable[[httpx.Response], R]
    path: Mapping[str, str] = field(default_factory=dict)
    params: dict[str, Any] | None = None
    json: Any = None
    options: RequestOptions = field(default_factory=lambda: RequestOptions())
    idempotency_key: str | None = None
    current_jti: bool = False
    revoke: bool = False
    after: Callable[[R], None] | None = None


@dataclass(frozen=True)
class OperationInfo:
    """An operation's address, for the coverage test and the docs."""

    method: str
    path: str
    dedupes: bool


class _Descriptor(Generic[P, R]):
    def __init__(
        self,
        method: str,
        path: str,
        build: Callable[Concatenate[Any, P], Spec[R]],
        *,
        dedupes: bool,
    ) -> None:
        self.info = OperationInfo(method, path, dedupes)
        self._build = build
        self.__doc__ = build.__doc__

    def _named(self, bound: Callable[..., Any]) -> Callable[..., Any]:
        """``help(client.hr.employees.list)`` shows the operation's own name and docstring."""
        for attribute in ("__module__", "__name__", "__qualname__", "__doc__"):
            setattr(bound, attribute, getattr(self._build, attribute))
        return bound

    def call(self, resource: Resource[Any], *args: Any, **kwargs: Any) -> Call[R]:
        spec = self._build(resource, *args, **kwargs)
        method = self.info.method
        if method == "POST":
            headers = post_headers(spec.idempotency_key, spec.options)
        else:
            headers = dict(spec.options.get("extra_headers") or {})
        return Call(
            method=method,
            # ``{jti}`` of the current token is filled in by the client, which holds the token.
            path=self.info.path if spec.current_jti else fill(self.info.path, spec.path),
            parse=spec.parse,
            params=spec.params or None,
            json=spec.json,
            headers=headers,
            timeout=spec.options.get("timeout", NOT_GIVEN),
            # Retrying after an ambiguous failure is safe only where a repeat does nothing more.
            repeatable=method in IDEMPOTENT or self.info.dedupes,
            current_jti=spec.current_jti,
            revoke=spec.revoke,
            after=spec.after,
        )


class operation(_Descriptor[P, R]):
    """``@operation("GET", "/api/v1/hr/employees/{employee_id}")`` on a method that returns a
    :class:`Spec`. ``dedupes=True`` where the server honours ``Idempotency-Key`` (a POST the
    client may then retry); every POST sends a key either way."""

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> operation[P, R]: ...
    @overload
    def __get__(self, obj: Resource[Sync], owner: type[Any]) -> Callable[P, R]: ...
    @overload
    def __get__(
        self, obj: Resource[Async], owner: type[Any]
    ) -> Callable[P, Coroutine[Any, Any, R]]: ...
    def __get__(self, obj: Resource[Any] | None, owner: type[Any]) -> Any:
        if obj is None:
            return self
        return self._named(obj._client._bind(functools.partial(self.call, obj)))


class paginated(_Descriptor[P, PageData[T]]):
    """An operation answering a list envelope: a page on the sync client, an ``AsyncPager``
    on the async one."""

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> paginated[P, T]: ...
    @overload
    def __get__(self, obj: Resource[Sync], owner: type[Any]) -> Callable[P, SyncPage[T]]: ...
    @overload
    def __get__(self, obj: Resource[Async], owner: type[Any]) -> Callable[P, AsyncPager[T]]: ...
    def __get__(self, obj: Resource[Any] | None, owner: type[Any]) -> Any:
        if obj is None:
            return self
        return self._named(obj._client._bind_list(functools.partial(self.call, obj)))


def route(
    method: str, path: str, *, dedupes: bool = False
) -> Callable[[Callable[Concatenate[Any, P], Spec[R]]], operation[P, R]]:
    """Decorator form of :class:`operation`."""

    def wrap(build: Callable[Concatenate[Any, P], Spec[R]]) -> operation[P, R]:
        return operation(method, path, build, dedupes=dedupes)

    return wrap


def list_route(
    path: str,
) -> Callable[[Callable[Concatenate[Any, P], Spec[PageData[T]]]], paginated[P, T]]:
    """Decorator form of :class:`paginated` (always a GET)."""

    def wrap(build: Callable[Concatenate[Any, P], Spec[PageData[T]]]) -> paginated[P, T]:
        return paginated("GET", path, build, dedupes=False)

    return wrap


def operations(root: object, prefix: str = "") -> Iterator[tuple[str, OperationInfo]]:
    """Every operation reachable from ``root`` (a client or a resource), as (dotted name,
    info): ``("hr.employees.list", OperationInfo("GET", "/api/v1/hr/employees", False))``."""
    for name in sorted(dir(type(root))):
        member = getattr(type(root), name, None)
        if isinstance(member, _Descriptor):
            yield f"{prefix}{name}", member.info
    for name, child in sorted(vars(root).items()):
        if isinstance(child, Resource) and not name.startswith("_"):
            yield from operations(child, f"{prefix}{name}.")
