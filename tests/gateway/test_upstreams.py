"""The route table: the routes file's checks (clear errors at start), canonical paths, matching."""

from __future__ import annotations

import posixpath
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fluide.app import create_app
from fluide.gateway.upstreams import (
    EMBEDDED,
    NotCanonical,
    Route,
    RoutesFileError,
    RouteTable,
    canonical_path,
    embedded_routes,
    load_routes,
)
from tests.conftest import make_settings
from tests.gateway.forward_support import write_routes

GOOD = """
[[route]]
prefix = "/orders"
upstream = "http://127.0.0.1:9000/"
scopes = { get = "books:read", "*" = "books:write" }
limit = "10/second"
"""


def load(tmp_path: Path, text: str) -> RouteTable:
    path = tmp_path / "routes.toml"
    path.write_text(text)
    return load_routes(path)


def route(prefix: str, upstream: str = '"http://127.0.0.1:9000"', extra: str = "") -> str:
    scopes = 'scopes = { "*" = "hr:read" }'
    return f'[[route]]\nprefix = "{prefix}"\nupstream = {upstream}\n{scopes}\n{extra}\n'


def test_good_file_and_the_embedded_routes(tmp_path: Path) -> None:
    table = load(tmp_path, GOOD)
    orders = table.match("/orders/1")
    assert orders is not None and orders.upstream == "http://127.0.0.1:9000"
    assert orders.scope_for("GET") == "books:read" and orders.scope_for("DELETE") == "books:write"
    assert orders.limit == "10/second" and orders.audience == "/orders"
    assert [r.prefix for r in table.proxied] == ["/orders"]
    hr = table.match("/api/v1/hr/employees")
    assert hr is not None and hr.upstream == EMBEDDED
    assert (hr.scope_for("GET"), hr.scope_for("POST")) == ("hr:read", "hr:write")
    assert table.match("/api/v1/hrx") is None and table.match("/ordersx") is None
    assert load_routes(None).proxied == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (route("/a").replace("hr:read", "hr:admin"), "unknown scope 'hr:admin'"),
        (route("/a").replace('"*"', "FETCH"), "unknown method 'FETCH'"),
        (route("/a") + route("/a"), "overlaps the route /a"),
        (route("/a") + route("/a/b"), "overlaps the route /a"),
        (route("/a/b") + route("/a"), "overlaps the route /a/b"),
        (route("/api/v1/hr"), "overlaps the service's own path /api"),
        (route("/connect/x"), "overlaps the service's own path /connect"),
        (route("/.well-known"), "own path /.well-known"),
        (route("/a", '"ftp://x"'), "bad upstream URL"),
        (route("/a", '"http://"'), "bad upstream URL"),
        (route("/a", '"http://h:99999"'), "bad upstream URL"),
        (route("/a", '"http://h/?q=1"'), "no query"),
        (route("/a", '"http://u:p@h"'), "credentials"),
        (route("/a", '"embedded"'), "built-in products' upstream only"),
        (route("/a", "3"), "'upstream' is required"),
        (route("/a/"), "without a trailing /"),
        (route("/"), "without a trailing /"),
        (route("a"), "bad prefix"),
        (route("/a/../b"), "dot segment"),
        (route("/a//b"), "empty segment"),
        (route("/a%2fb"), "encodes a slash"),
        (route("/%61"), "write it decoded"),
        (route("/a", extra='limit = "lots"'), "bad limit"),
        (route("/a", extra='audience = ""'), "'audience'"),
        (route("/a", extra="color = 1"), "unknown keys ['color']"),
        ('[[route]]\nupstream = "http://h"', "'prefix' is required"),
        ('[[route]]\nprefix = "/a"\nupstream = "http://h"', "'scopes' is required"),
        ("route = 1", "array of tables"),
        ("[other]", "unknown top-level keys"),
        ("[[route", "not valid TOML"),
    ],
)
def test_bad_files_stop_with_a_clear_message(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(RoutesFileError) as info:
        load(tmp_path, text)
    assert message in str(info.value)
    assert "routes.toml" in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RoutesFileError, match="cannot be read"):
        load_routes(tmp_path / "nope.toml")


def test_the_app_does_not_build_with_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(route("/a").replace("hr:read", "nope"))
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    with pytest.raises(RoutesFileError, match="unknown scope"):
        create_app(settings.model_copy(update={"routes_file": bad}))
    good = settings.model_copy(update={"routes_file": write_routes(tmp_path)})
    assert create_app(good).gateway.routes.match("/orders") is not None


@pytest.mark.parametrize(
    "raw",
    [
        "/a/../b",
        "/a/%2e%2E/b",
        "/a/.%2e/b",
        "/a/./b",
        "//a",
        "/a//b",
        "/a%2Fb",
        "/a%5cb",
        "/a\\b",
        "/a%00",
        "/a%",
        "/a%g1",
        "/a%252e",
        "/a/..;x/b",
        "a",
        "",
        "/a b",
        "/a%0a",
    ],
)
def test_non_canonical_paths(raw: str) -> None:
    with pytest.raises(NotCanonical):
        canonical_path(raw)


def test_canonical_paths_decode() -> None:
    assert canonical_path("/a/%62/c/") == "/a/b/c/"
    assert canonical_path("/a;b/%C3%A9") == "/a;b/\u00e9"
    assert canonical_path("/") == "/"


_SEGMENT = st.sampled_from(
    [
        "a",
        "b",
        "orders",
        "admin",
        ".",
        "..",
        "",
        "%2e",
        "%2E%2e",
        "%2f",
        "%61",
        "..;",
        "x%25",
        "%5c",
        "c;d",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_SEGMENT, min_size=1, max_size=6))
def test_an_accepted_path_is_already_normal(segments: list[str]) -> None:
    """Whatever the spelling, a path the gateway accepts is its own normal form: a proxy or an
    upstream that normalises it cannot land on another route than the one decided on."""
    raw = "/" + "/".join(segments)
    try:
        decoded = canonical_path(raw)
    except NotCanonical:
        return
    body = decoded[:-1] if decoded.endswith("/") and decoded != "/" else decoded
    assert posixpath.normpath(body) == body
    assert "%" not in decoded and "\\" not in decoded


_PREFIXES = st.lists(
    st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3).map(
        lambda p: "/z/" + "/".join(p)
    ),
    max_size=6,
    unique=True,
)


@settings(max_examples=300, deadline=None)
@given(_PREFIXES, st.lists(st.sampled_from(["a", "b", "c", "ab"]), max_size=5))
def test_match_agrees_with_a_plain_scan(prefixes: list[str], path_parts: list[str]) -> None:
    """``match`` (longest first) and the obvious reference (every route that covers the path,
    the longest) agree; nested prefixes never load, but the table is checked without them."""
    routes = [Route(p, "http://h", {"*": "hr:read"}) for p in prefixes]
    table = RouteTable(embedded_routes() + routes)
    path = "/z/" + "/".join(path_parts)
    covering = [r for r in table.routes if path == r.prefix or path.startswith(r.prefix + "/")]
    expected = max(covering, key=lambda r: len(r.prefix)) if covering else None
    assert table.match(path) == expected
    # The built-in proxy's lookup is the same answer restricted to proxied routes.
    assert table.match_proxied(path) == (expected if expected and not expected.embedded else None)
