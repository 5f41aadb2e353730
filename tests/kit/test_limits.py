"""Input limits (kit.limits): body, headers, JSON depth, header bytes — over ASGI and a socket.

Every refusal is the envelope with the request id, never a 5xx, never a hang.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fluide.kit.limits import json_depth_exceeds, nul_in_body
from tests.conftest import CLIENT_ID, Dev, exchange
from tests.reliability.server import (
    ServerProcess,
    parse_response,
    raw_request,
    response_complete,
    running,
)

TOKEN = "/api/v1/authorize/token"
MIB = 1024 * 1024


def assert_envelope(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body: dict[str, Any] = resp.json()
    assert body["success"] is False
    assert body["code"] == code
    assert body["statusCode"] == status
    assert body["requestId"] == resp.headers["x-request-id"]
    return body


# ---- the pure depth check --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "depth", "exceeds"),
    [
        (b"[[[]]]", 3, False),
        (b"[[[[]]]]", 3, True),
        (b'{"a": {"b": {"c": 1}}}', 3, False),
        (b'{"a": {"b": {"c": {}}}}', 3, True),
        (b'["[[[[[[", "{{{{{{{"]', 2, False),  # brackets inside strings do not count
        (b'["\\"[[[[[[[["]', 1, False),  # nor after an escaped quote
        (b"[1, [2], [3], [4], [5], [6]]", 2, False),  # siblings are not depth
        (b"[" * 100_000, 64, True),
    ],
)
def test_json_depth(body: bytes, depth: int, exceeds: bool) -> None:
    assert json_depth_exceeds(body, depth) is exceeds


# ---- through the ASGI app --------------------------------------------------------------------


async def test_body_over_the_limit_by_content_length(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        TOKEN,
        content=b"x" * (MIB + 1),
        headers={"Content-Type": "application/json", "X-Request-Id": "req-big-1"},
    )
    body = assert_envelope(resp, 413, "PAYLOAD_TOO_LARGE")
    assert body["requestId"] == "req-big-1"


async def test_chunked_body_over_the_limit_is_cut_while_streaming(
    client: httpx.AsyncClient,
) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(64):  # 4 MiB offered, no Content-Length
            sent += 1
            yield b"[" + b"0," * 32767 + b"0]"

    resp = await client.post(TOKEN, content=chunks(), headers={"Content-Type": "application/json"})
    assert_envelope(resp, 413, "PAYLOAD_TOO_LARGE")
    assert sent < 64  # refused before the whole body was read


async def test_lying_content_length_does_not_get_past_the_limit(app: Any) -> None:
    """A small Content-Length with a large body: the bytes are counted, not the claim."""
    messages: list[dict[str, Any]] = []
    body_parts = [b"{" * 1000] * 2000  # 2 MB

    async def receive() -> dict[str, Any]:
        if body_parts:
            return {"type": "http.request", "body": body_parts.pop(), "more_body": bool(body_parts)}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": TOKEN,
        "raw_path": TOKEN.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-length", b"10"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)
    assert messages[0]["status"] == 413
    assert len(body_parts) > 0  # it stopped reading at the limit


async def test_body_just_under_the_limit_is_read(client: httpx.AsyncClient) -> None:
    # A valid JSON document below 1 MiB reaches the route (which then says what is missing).
    payload = b'{"apiKey": "' + b"a" * (MIB - 100) + b'"}'
    resp = await client.post(TOKEN, content=payload, headers={"Content-Type": "application/json"})
    assert resp.status_code in (400, 401), resp.text
    assert resp.json()["code"] in ("VALIDATION_FAILED", "DEVELOPER_KEYS_INVALID")


@pytest.mark.parametrize("depth", [65, 1000, 100_000])
async def test_deeply_nested_json_is_refused(client: httpx.AsyncClient, depth: int) -> None:
    resp = await client.post(
        TOKEN, content=b"[" * depth + b"]" * depth, headers={"Content-Type": "application/json"}
    )
    body = assert_envelope(resp, 400, "VALIDATION_FAILED")
    assert "body" in body["errors"]


async def test_nesting_at_the_limit_is_fine(client: httpx.AsyncClient, dev: Dev) -> None:
    nested: Any = "x"
    for _ in range(62):
        nested = {"n": nested}
    resp = await client.post(
        TOKEN,
        json={
            "apiKey": dev.api_key,
            "apiSecret": dev.api_secret,
            "clientId": CLIENT_ID,
            "x": nested,
        },
    )
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize(
    "payload",
    [
        b"{" * 5000,  # unbalanced
        b'{"apiKey": "\xff\xfe"}',  # not UTF-8
        b'{"apiKey": ' + b"1" * 100_000 + b"}",  # a huge number
        b'{"apiKey": "\\ud800"}',  # lone surrogate escape
        b"[" + b"1," * 200_000 + b"1]",  # wide, not deep
        b"\x00\x01\x02",
    ],
)
async def test_hostile_json_is_a_4xx(client: httpx.AsyncClient, payload: bytes) -> None:
    resp = await client.post(TOKEN, content=payload, headers={"Content-Type": "application/json"})
    assert 400 <= resp.status_code < 500, resp.text
    assert resp.json()["requestId"] == resp.headers["x-request-id"]


async def test_oversized_header_total(client: httpx.AsyncClient) -> None:
    headers = {f"X-Pad-{i}": "a" * 4000 for i in range(5)}  # 20 kB in all, each under 8 kB
    assert_envelope(await client.get("/api/v1", headers=headers), 431, "HEADERS_TOO_LARGE")


async def test_oversized_single_header(client: httpx.AsyncClient) -> None:
    resp = await client.get("/api/v1/hr/health", headers={"Authorization": "Bearer " + "a" * 9000})
    assert_envelope(resp, 431, "HEADERS_TOO_LARGE")


@pytest.mark.parametrize(
    "header", ["Authorization", "X-Fluide-Api-Key", "X-Fluide-Client-Id", "X-Fluide-Api-Secret"]
)
@pytest.mark.parametrize("value", [b"abc\x01def", b"abc\x7fdef", b"caf\xc3\xa9", b"\xff\xfe\xfd"])
async def test_control_and_non_ascii_bytes_in_read_headers(
    client: httpx.AsyncClient, header: str, value: bytes
) -> None:
    for path, method in ((TOKEN, "POST"), ("/api/v1/hr/health", "GET")):
        resp = await client.request(method, path, headers=[(header.encode(), value)])
        body = assert_envelope(resp, 400, "VALIDATION_FAILED")
        assert header in body["errors"]
        # The offending value is never echoed.
        assert value.decode("latin-1") not in resp.text


async def test_cookies_and_other_headers_may_hold_utf8(client: httpx.AsyncClient) -> None:
    # Only the credential headers are held to ASCII; a browser's cookies are not ours to judge.
    resp = await client.get(
        "/api/v1", headers=[(b"Cookie", b"pref=caf\xc3\xa9"), (b"User-Agent", b"caf\xc3\xa9")]
    )
    assert resp.status_code == 200, resp.text


async def test_clean_requests_still_pass(client: httpx.AsyncClient, dev: Dev) -> None:
    token = (await exchange(client, dev))["accessToken"]
    resp = await client.get(
        "/api/v1/hr/health",
        headers={
            "Authorization": f"Bearer {token}",
            "X-Fluide-Api-Key": dev.api_key,
            "X-Fluide-Client-Id": CLIENT_ID,
        },
    )
    assert resp.status_code == 200, resp.text


async def test_bad_content_length(client: httpx.AsyncClient) -> None:
    # httpx would fix a wrong header; the raw-socket test below sends a truly bad one.
    resp = await client.post(TOKEN, content=b"{}", headers={"Content-Length": "-5"})
    assert 400 <= resp.status_code < 500


# ---- over a real socket, through uvicorn -----------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One real server on SQLite for the socket tests of this module."""
    with running(tmp_path_factory.mktemp("limits-server")) as srv:
        yield srv


def _request(
    method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes = b""
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: 127.0.0.1"]
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


async def _still_serving(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as c:
        assert (await c.get("/api/v1")).status_code == 200


def _assert_not_5xx(data: bytes) -> int:
    if not data:  # the server closed without an answer: acceptable for garbage, not a 5xx
        return 0
    status = parse_response(data).status
    assert status < 500, data[:500]
    return status


@pytest.mark.slow
async def test_socket_oversized_body_with_content_length(server: ServerProcess) -> None:
    data = await raw_request(
        server.port,
        _request(
            "POST",
            TOKEN,
            [(b"Content-Type", b"application/json"), (b"Content-Length", str(8 * MIB).encode())],
            b"x" * 1000,  # we never send the rest: the server must answer anyway
        ),
    )
    resp = parse_response(data)
    assert resp.status == 413
    assert resp.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert resp.json()["requestId"] == resp.headers["x-request-id"]


@pytest.mark.slow
async def test_socket_chunked_body_over_the_limit(server: ServerProcess) -> None:
    chunk = b"a" * 65536
    body = b"".join(b"%x\r\n" % len(chunk) + chunk + b"\r\n" for _ in range(20)) + b"0\r\n\r\n"
    data = await raw_request(
        server.port,
        _request(
            "POST",
            TOKEN,
            [(b"Content-Type", b"application/json"), (b"Transfer-Encoding", b"chunked")],
            body,
        ),
    )
    resp = parse_response(data)
    assert resp.status == 413 and resp.json()["code"] == "PAYLOAD_TOO_LARGE"


@pytest.mark.slow
async def test_socket_headers_over_our_limit(server: ServerProcess) -> None:
    headers = [(f"X-Pad-{i}".encode(), b"b" * 4000) for i in range(5)]
    resp = parse_response(await raw_request(server.port, _request("GET", "/api/v1", headers)))
    assert resp.status == 431 and resp.json()["code"] == "HEADERS_TOO_LARGE"
    assert resp.json()["requestId"] == resp.headers["x-request-id"]


@pytest.mark.slow
async def test_socket_huge_headers_never_a_5xx(server: ServerProcess) -> None:
    """Past what the HTTP parser accepts, uvicorn may answer or close first: never a 5xx."""
    for size in (64 * 1024, 1024 * 1024):
        headers = [(b"X-Huge", b"c" * size)]
        _assert_not_5xx(await raw_request(server.port, _request("GET", "/api/v1", headers)))
    # And the server is still fine afterwards.
    await _still_serving(server)


@pytest.mark.slow
@pytest.mark.parametrize(
    "value", [b"abc\x01def", b"caf\xc3\xa9", b"\xff\xfe", b"tab\there", b"nul\x00byte"]
)
async def test_socket_bad_bytes_in_headers(server: ServerProcess, value: bytes) -> None:
    for name in (b"Authorization", b"X-Fluide-Api-Key"):
        data = await raw_request(
            server.port,
            _request("GET", "/api/v1/hr/health", [(name, value), (b"X-Fluide-Client-Id", b"x")]),
        )
        status = _assert_not_5xx(data)
        if status:  # the parser may drop the connection for a NUL; if it answers, it is 400
            resp = parse_response(data)
            assert status == 400, data[:400]
            if resp.headers.get("content-type") == "application/json":
                assert resp.json()["code"] == "VALIDATION_FAILED"


@pytest.mark.slow
async def test_socket_bad_content_length_and_garbage(server: ServerProcess) -> None:
    for payload in (
        _request("POST", TOKEN, [(b"Content-Length", b"-1")]),
        _request("POST", TOKEN, [(b"Content-Length", b"abc")]),
        _request("POST", TOKEN, [(b"Content-Length", b"5"), (b"Content-Length", b"7")], b"12345"),
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 200,  # a TLS hello
        b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    ):
        _assert_not_5xx(await raw_request(server.port, payload))
    await _still_serving(server)


@pytest.mark.slow
async def test_socket_slow_client_does_not_block_others(server: ServerProcess) -> None:
    """A client that announces a body and never sends it holds one connection, not the server."""
    _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(_request("POST", TOKEN, [(b"Content-Length", b"1000")], b"{"))
    await writer.drain()
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as c:
            assert (await c.get("/api/v1")).status_code == 200
    finally:
        writer.close()


@pytest.mark.slow
async def test_socket_deep_json(server: ServerProcess, tmp_path: Path) -> None:
    body = b"[" * 50_000 + b"]" * 50_000
    resp = parse_response(
        await raw_request(
            server.port,
            _request(
                "POST",
                TOKEN,
                [
                    (b"Content-Type", b"application/json"),
                    (b"Content-Length", str(len(body)).encode()),
                ],
                body,
            ),
        )
    )
    assert resp.status == 400 and resp.json()["code"] == "VALIDATION_FAILED"


# ---- NUL is never input (PostgreSQL cannot store it: it used to be a 500 there) --------------


@pytest.mark.parametrize(
    ("body", "content_type", "has_nul"),
    [
        (b'{"a": "x\\u0000y"}', b"application/json", True),
        (b'{"x\\u0000": 1}', b"application/json", True),
        (b'{"a": "\\\\u0000"}', b"application/json", False),  # a backslash, then "u0000"
        (b'{"a": "\\\\\\u0000"}', b"application/json", True),  # a backslash, then NUL
        (b'{"a": "\\\\\\\\u0000"}', b"", False),  # two backslashes, then "u0000"
        (b'{"a": "\\u00000"}', b"", True),
        (b'{"a": "\\u0001"}', b"application/json", False),
        (b'{"a": "x\x00y"}', b"application/json", True),  # raw NUL: refused whatever it is
        (b"a=1&b=%00", b"application/x-www-form-urlencoded", True),
        (b"a=1&b=%2500", b"application/x-www-form-urlencoded", False),
        (b"a=\\u0000", b"application/x-www-form-urlencoded", False),
        (b"\x00", b"application/octet-stream", True),
    ],
)
def test_nul_in_body(body: bytes, content_type: bytes, has_nul: bool) -> None:
    assert nul_in_body(body, content_type) is has_nul


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)


_text = st.text(alphabet=st.sampled_from(["\x00", "\\", "u", "0", "a", '"', "é", "\x01"]))
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=12,
)


@given(value=_json, ascii_only=st.booleans())
def test_nul_in_body_agrees_with_a_parser(value: Any, ascii_only: bool) -> None:
    body = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert json.loads(body) == value
    assert nul_in_body(body, b"application/json") is any("\x00" in s for s in _strings(value))


async def _nul_refused(resp: httpx.Response, where: str) -> None:
    body = assert_envelope(resp, 400, "VALIDATION_FAILED")
    assert body["errors"] == {where: ["must not contain the NUL character (U+0000)"]}


def _with_nul(body: dict[str, Any], field: str, in_key: bool) -> bytes:
    raw = json.dumps(body).encode()
    if in_key:  # an extra member whose name holds NUL
        return raw[:-1] + b', "x\\u0000y": "1"}'
    return raw.replace(f'"{field}": "'.encode(), f'"{field}": "NUL\\u0000'.encode(), 1)


async def test_nul_in_json_bodies_is_refused_before_any_route(
    client: httpx.AsyncClient, dev: Dev, backend: str
) -> None:
    from tests.products.books.test_ledger import entry
    from tests.products.helpers import employee, headers_for

    h = {**(await headers_for(client, dev)), "Content-Type": "application/json"}
    signup = {"email": "nul@example.com", "password": "correct horse battery", "tenantName": "T"}
    cases = [
        ("/api/v1/auth/signup", {}, signup, "tenantName"),
        ("/api/v1/hr/employees", h, employee("E1"), "firstName"),
        (
            "/api/v1/books/journal-entries",
            h,
            entry([("6800", "1.00", "0"), ("1000", "0", "1.00")]),
            "description",
        ),
    ]
    for path, headers, body, field in cases:
        for in_key in (False, True):
            resp = await client.post(path, content=_with_nul(body, field, in_key), headers=headers)
            await _nul_refused(resp, "body")
        # The control: the same body without NUL works on this backend, with a backslash and
        # "u0000" as plain text in the value.
        clean = {**body, field: "back\\u0000slash"}
        resp = await client.post(path, json=clean, headers=headers)
        # Sign-up answers 202 (issue 14: alike for known and new addresses); the others 201.
        assert resp.status_code in (201, 202), (backend, path, resp.text)
    listed = (await client.get("/api/v1/hr/employees", headers=h)).json()
    assert listed["total"] == 1 and listed["items"][0]["firstName"] == "back\\u0000slash"


async def test_nul_in_the_path_query_headers_and_forms_is_refused(
    client: httpx.AsyncClient, dev: Dev
) -> None:
    from tests.products.helpers import headers_for

    h = await headers_for(client, dev)
    await _nul_refused(await client.get("/api/v1/hr/employees?q=%00", headers=h), "query")
    await _nul_refused(await client.get("/api/v1/hr/employees/emp%00x", headers=h), "path")
    await _nul_refused(await client.get("/api/v1/auth-context/x%00", headers=h), "path")
    resp = await client.post(
        "/api/v1/pay/wallets/NGN/fund",
        json={"amount": "10.00"},
        headers=[*h.items(), ("Idempotency-Key", b"key\x00")],
    )
    await _nul_refused(resp, "Idempotency-Key")
    resp = await client.post(
        "/connect/signup",
        content=b"email=a%40example.com&password=x%00y",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    await _nul_refused(resp, "body")
    # A plain query still works.
    assert (await client.get("/api/v1/hr/employees?q=ann", headers=h)).status_code == 200


# ---- reading the body: to its declared length, or to the message without more_body ----------


def _post(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """The least ASGI scope the limits read: a POST with ``headers``."""
    return {"type": "http", "method": "POST", "path": "/x", "query_string": b"", "headers": headers}


def _served(chunks: list[bytes], closing: bool) -> tuple[list[dict[str, Any]], list[str]]:
    """The messages a server hands over for a body sent as ``chunks``: each with ``more_body``
    but the last; with ``closing``, Granian's way: every chunk with ``more_body`` and then an
    empty closing message. After them, the disconnect. And the log of what was taken."""
    if closing:
        messages = [{"type": "http.request", "body": c, "more_body": True} for c in chunks]
        messages.append({"type": "http.request", "body": b"", "more_body": False})
    else:
        last = len(chunks) - 1
        messages = [
            {"type": "http.request", "body": c, "more_body": i < last} for i, c in enumerate(chunks)
        ]
    messages.append({"type": "http.disconnect"})
    return messages, []


async def _through_limits(
    chunks: list[bytes], closing: bool, declared: bool
) -> tuple[bytes, list[str], dict[str, Any]]:
    """Run ``LimitsMiddleware`` over an app that reads the body as Starlette does (to the
    message without ``more_body``) and then waits once more (for the disconnect). The body the
    app saw, what the server was asked for, before and after the app started, and the app's
    last message."""
    from fluide.kit.limits import LimitsMiddleware

    messages, log = _served(chunks, closing)
    body = b"".join(chunks)

    async def receive() -> dict[str, Any]:
        log.append("receive")
        return messages.pop(0)

    seen: dict[str, Any] = {}

    async def inner(scope: Any, receive_: Any, send_: Any) -> None:
        log.append("app")
        parts = []
        while True:
            message = await receive_()
            parts.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        seen["body"] = b"".join(parts)
        seen["after"] = await receive_()
        await send_({"type": "http.response.start", "status": 204, "headers": []})
        await send_({"type": "http.response.body", "body": b""})

    async def send(message: dict[str, Any]) -> None:
        pass

    headers = [(b"content-type", b"application/octet-stream")]
    if declared:
        headers.append((b"content-length", str(len(body)).encode()))
    await LimitsMiddleware(inner, max_body_bytes=MIB)(_post(headers), receive, send)
    return seen["body"], log, seen["after"]


@given(
    # (No NUL byte: a body holding one is refused before the app runs, tested above.)
    chunks=st.lists(
        st.binary(max_size=40).map(lambda b: b.replace(b"\x00", b".")), min_size=1, max_size=6
    ),
    closing=st.booleans(),
    declared=st.booleans(),
)
def test_the_app_gets_the_whole_body_however_it_comes(
    chunks: list[bytes], closing: bool, declared: bool
) -> None:
    """Stopping at the declared length (the fast way) and reading to the message without
    ``more_body`` (the slow way) give the app the same body, whatever the split, and what the
    app awaits after it is the disconnect, never a leftover closing message."""
    body, log, after = asyncio.run(_through_limits(chunks, closing, declared))
    assert body == b"".join(chunks)
    assert after == {"type": "http.disconnect"}
    taken_before_app = log.index("app")
    if declared and closing and b"".join(chunks):
        # Granian's closing message is not waited for before the app runs: the body is whole.
        last_data = max(i for i, c in enumerate(chunks) if c)
        assert taken_before_app == last_data + 1
    elif not declared:
        # Without a length, only the message without more_body ends the body.
        assert taken_before_app == len(chunks) + (1 if closing else 0)


def _first_body(messages: list[dict[str, Any]], headers: list[tuple[bytes, bytes]]) -> bytes:
    """The body an app behind ``LimitsMiddleware`` gets from its first ``receive``, the server
    handing over ``messages``."""
    from fluide.kit.limits import LimitsMiddleware

    seen: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def inner(scope: Any, receive_: Any, send_: Any) -> None:
        seen.append((await receive_())["body"])

    async def send(message: dict[str, Any]) -> None:
        pass

    asyncio.run(LimitsMiddleware(inner)(_post(headers), receive, send))
    assert len(seen) == 1
    return seen[0]


@given(
    chunks=st.lists(
        st.binary(min_size=1, max_size=20).map(lambda b: b.replace(b"\x00", b".")),
        min_size=2,
        max_size=5,
    ),
    declared=st.integers(min_value=0, max_value=30),
)
def test_a_transfer_encoding_frames_the_body_whatever_length_is_declared(
    chunks: list[bytes], declared: int
) -> None:
    """With ``Transfer-Encoding`` beside a ``Content-Length`` (RFC 9112 §6.3: the encoding
    wins), the body is read to its last message: a declared length never cuts it short."""
    messages, _ = _served(chunks, closing=False)
    headers = [
        (b"content-length", str(declared).encode()),
        (b"transfer-encoding", b"chunked"),
        (b"content-type", b"application/octet-stream"),
    ]
    assert _first_body(messages, headers) == b"".join(chunks)


def test_a_body_past_its_declared_length_is_still_read_to_its_end() -> None:
    """A server never hands over more than Content-Length; if one did, nothing is cut short
    or lost: the body is read on to the message without more_body, and the limit still counts
    every byte."""
    messages = [
        {"type": "http.request", "body": b"abc", "more_body": True},
        {"type": "http.request", "body": b"def", "more_body": False},
    ]
    assert _first_body(messages, [(b"content-length", b"2")]) == b"abcdef"


@pytest.mark.slow
async def test_socket_bodies_on_one_keep_alive_connection(server: ServerProcess) -> None:
    """Requests with bodies, one after the other on one connection (the server's default,
    Granian, closes each body with an empty message the edge does not wait for): each is
    answered in full, and the next request on the connection is read as a request."""
    form = b"grant_type=client_credentials&client_id=fl_dev_nobody&client_secret=x"
    requests = [
        ("POST", "/oauth/token", b"application/x-www-form-urlencoded", form, 401),
        ("POST", TOKEN, b"application/json", b'{"apiKey": "fl_dev_nobody"}', 400),
        ("POST", "/oauth/token", b"application/x-www-form-urlencoded", b"grant_type=x", 400),
        ("GET", "/api/v1", None, b"", 200),
    ]
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        for method, path, content_type, body, status in requests * 3:
            headers = [(b"Content-Length", str(len(body)).encode())] if body else []
            if content_type:
                headers.append((b"Content-Type", content_type))
            writer.write(_request(method, path, headers, body))
            await writer.drain()
            data = b""
            async with asyncio.timeout(10):
                while not response_complete(data):
                    chunk = await reader.read(65536)
                    assert chunk, f"the server closed the connection after {data[:200]!r}"
                    data += chunk
            assert parse_response(data).status == status, data[:300]
    finally:
        writer.close()
    await _still_serving(server)
