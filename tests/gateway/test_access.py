"""The access log (DESIGN §3.8): one line per request, with its request id, route template,
status, duration and caller once known; never a header, a query string, a key, a secret or a
token, however malformed the request. And the request id on every line logged meanwhile.

The logging is configured as ``fluide serve`` configures it (``kit.logging.configure_logging``),
writing to a buffer the test reads.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fluide.app import App
from fluide.kit.logging import configure_logging
from tests.conftest import Dev, bearer, exchange


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    root = logging.getLogger("fluide")
    saved = root.handlers[:], root.level, root.propagate
    buffer = io.StringIO()
    configure_logging("INFO", json_lines=True, stream=buffer)
    try:
        yield buffer
    finally:
        root.handlers[:], root.level, root.propagate = saved


def _records(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line]


def _access(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [r for r in _records(buffer) if r["logger"] == "fluide.access"]


async def test_one_line_per_request_with_template_and_caller(
    client: httpx.AsyncClient, dev: Dev, log_lines: io.StringIO
) -> None:
    token = (await exchange(client, dev))["accessToken"]
    resp = await client.get(
        "/api/v1/hr/employees/emp_123?search=secret-looking", headers=bearer(token, dev)
    )
    lines = _access(log_lines)
    assert len(lines) == 2, lines
    first, second = lines
    assert first["route"] == "/api/v1/authorize/token" and first["status"] == 200
    assert first["credential_id"] == dev.credential_id and first["tenant_id"] == dev.tenant_id
    assert second["request_id"] == resp.headers["x-request-id"]
    assert second["method"] == "GET"
    assert second["route"] == "/api/v1/hr/employees/{employee_id}"
    assert second["path"] == "/api/v1/hr/employees/emp_123"
    assert second["status"] == resp.status_code
    assert second["credential_id"] == dev.credential_id
    assert second["tenant_id"] == dev.tenant_id
    assert isinstance(second["duration_ms"], float) and second["duration_ms"] >= 0
    text = log_lines.getvalue()
    for value in (token, dev.api_key, dev.api_secret, "secret-looking", "search="):
        assert value not in text


async def test_a_refused_request_is_logged_under_its_product_template(
    client: httpx.AsyncClient, dev: Dev, log_lines: io.StringIO
) -> None:
    resp = await client.get("/api/v1/books/health", headers={"X-Request-Id": "probe-42"})
    assert resp.status_code == 401
    (line,) = _access(log_lines)
    assert line["request_id"] == "probe-42"
    assert line["route"] == "/api/v1/books/health" and line["status"] == 401
    assert "credential_id" not in line


def _attacks(dev: Dev, token: str) -> list[tuple[str, str, dict[str, str]]]:
    """(method, target, headers): malformed requests that carry a credential somewhere."""
    key, secret = dev.api_key, dev.api_secret
    return [
        ("GET", "/api/v1/hr/health", {"Authorization": f"Bearer {token}"}),  # no key
        (
            "GET",
            "/api/v1/hr/health",
            {"Authorization": f"bearer  {token}x", "X-Fluide-Api-Key": key},
        ),
        ("GET", "/api/v1/hr/health", {"X-Fluide-Api-Secret": secret, "X-Fluide-Api-Key": key}),
        ("GET", "/api/v1/accounts/me", {"X-Fluide-Api-Secret": secret}),
        ("GET", f"/api/v1/hr/employees/{token}", {"Authorization": f"Bearer {token}"}),
        ("GET", f"/nowhere/{secret}/{key}", {}),
        ("GET", f"/api/v1?token={token}&secret={secret}", {}),
        ("POST", "/api/v1/authorize/token", {"X-Fluide-Api-Key": key, "X-Fluide-Api-Secret": "x"}),
        ("POST", "/api/v1/authorize/token", {"Authorization": f"Basic {secret}"}),
        ("GET", "/api/v1/hr/health", {"Authorization": "Bearer " + token + "A" * 9000}),  # 431
        ("GET", "/api/v1/hr/health", {"X-Fluide-Api-Secret": secret + "\x7f"}),
        ("BREW", f"/api/v1/pay/{secret}", {"Authorization": f"Bearer {token}"}),
    ]


async def test_no_credential_reaches_the_log_whatever_the_request(
    client: httpx.AsyncClient, dev: Dev, log_lines: io.StringIO
) -> None:
    token = (await exchange(client, dev))["accessToken"]
    ids = []
    for method, target, headers in _attacks(dev, token):
        resp = await client.request(method, target, headers=headers)
        assert resp.status_code < 500, (target, resp.text)
        ids.append(resp.headers["x-request-id"])
    text = log_lines.getvalue()
    for value in (token, token.split(".")[1], dev.api_key, dev.api_secret):
        assert value not in text
    for header in ("authorization", "x-fluide-api-secret", "x-fluide-api-key"):
        assert header not in text.lower()
    access = _access(log_lines)
    assert [line["request_id"] for line in access[1:]] == ids  # one line each, in order
    assert access[-1]["method"] == "OTHER"


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    where=st.sampled_from(["path", "query", "header", "secret-header", "request-id"]),
    junk=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=40),
)
async def test_property_secret_anywhere_never_logged(
    client: httpx.AsyncClient, dev: Dev, log_lines: io.StringIO, where: str, junk: str
) -> None:
    secret = dev.api_secret
    target, headers = "/api/v1/hr/health", {"X-Fluide-Api-Key": dev.api_key}
    if where == "path":
        target = f"/api/v1/hr/{junk.replace('?', '').replace('#', '')}{secret}"
    elif where == "query":
        target = f"/api/v1/hr/health?q={secret}"
    elif where == "header":
        headers["Authorization"] = f"Bearer {junk}{secret}"
    elif where == "secret-header":
        headers["X-Fluide-Api-Secret"] = junk + secret
    else:
        headers["X-Request-Id"] = secret  # a sane-looking id that is a secret
    await client.get(target, headers=headers)
    assert secret not in log_lines.getvalue()
    assert secret[7:] not in log_lines.getvalue()


async def test_the_request_id_is_on_every_line_logged_while_serving(
    client: httpx.AsyncClient, dev: Dev, log_lines: io.StringIO
) -> None:
    # A live secret sent to a product route: the exposure warning is logged inside the request.
    headers = {"X-Fluide-Api-Secret": dev.api_secret, "X-Fluide-Api-Key": dev.api_key}
    resp = await client.get("/api/v1/hr/health", headers={**headers, "X-Request-Id": "rid-777"})
    assert resp.status_code == 400
    records = _records(log_lines)
    warning = [r for r in records if r["msg"] == "api secret sent outside the exchange"]
    assert warning and all(r["request_id"] == "rid-777" for r in warning)
    assert all(r["request_id"] == "rid-777" for r in records)
    logging.getLogger("fluide.test").warning("outside any request")
    assert "request_id" not in _records(log_lines)[-1]


class TestOff:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"access_log": False}

    async def test_fluide_access_log_false_turns_it_off(
        self, client: httpx.AsyncClient, log_lines: io.StringIO, runtime: App
    ) -> None:
        assert (await client.get("/api/v1")).status_code == 200
        assert _access(log_lines) == []


async def test_plain_text_lines_carry_the_request_id(client: httpx.AsyncClient) -> None:
    root = logging.getLogger("fluide")
    saved = root.handlers[:], root.level, root.propagate
    buffer = io.StringIO()
    configure_logging("INFO", json_lines=False, stream=buffer)
    try:
        await client.get("/api/v1", headers={"X-Request-Id": "plain-1"})
    finally:
        root.handlers[:], root.level, root.propagate = saved
    (line,) = buffer.getvalue().splitlines()
    assert line.startswith("INFO    fluide.access: request ")
    assert "request_id=plain-1" in line and "route=/api/v1" in line and "status=200" in line
