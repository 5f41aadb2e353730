"""Property-based conformance of the live server to its own document (schemathesis).

Every operation, with valid credentials injected by kind of route: no 5xx, every status code
documented, every body matching its declared schema and content type.

Destructive routes stay in: ``/authorize/revoke`` gets a fresh token on every call, and after
``/authorize/rotate-secret`` the suite takes the new secret from the response (a rotation without
grace revokes every earlier token, so the cached one is dropped); ``/auth/signout`` gets a fresh
dashboard session on every call.
"""

from __future__ import annotations

import base64
import threading
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks

from tests.apidocs.conftest import LiveServer
from tests.apidocs.kinds import Kind, classify

CLIENT_ID = "fluide-developer"
# Bounded so the whole suite runs in a couple of minutes on CI's two cores.
MAX_EXAMPLES = {GenerationMode.POSITIVE: 20, GenerationMode.NEGATIVE: 10}
# Failures found by this suite in code the API reference does not own. Remove an entry once fixed.
KNOWN_SERVER_BUGS: dict[str, str] = {}
OURS = {"authorization", "x-fluide-api-key", "x-fluide-api-secret", "x-fluide-client-id"}
# Generated act-as values name no company of the partner: every call would be a 404 and the
# products never reached. The act-as check is attacked in tests/identity/partners/.
OURS |= {"x-workspace-id", "x-acting-company-id"}
FRESH_TOKEN = {("POST", "/api/v1/authorize/revoke"), ("POST", "/api/v1/authorize/rotate-secret")}
FRESH_SESSION = {("POST", "/api/v1/auth/signout")}
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


class Credentials:
    """The developer's live credentials, kept valid across destructive calls."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.api_secret = server.api_secret
        self._token: str | None = None
        self._session: str | None = None
        self._lock = threading.Lock()
        self.statuses: dict[tuple[str, str], set[int]] = {}

    def _exchange(self) -> str:
        resp = httpx.post(
            f"{self.server.base_url}/api/v1/authorize/token",
            headers={
                "X-Fluide-Api-Key": self.server.api_key,
                "X-Fluide-Api-Secret": self.api_secret,
                "X-Fluide-Client-Id": CLIENT_ID,
            },
        )
        assert resp.status_code == 200, resp.text
        token: str = resp.json()["accessToken"]
        return token

    def _sign_in(self) -> str:
        resp = httpx.post(
            f"{self.server.base_url}/api/v1/auth/signin",
            json={"email": self.server.email, "password": self.server.password},
        )
        assert resp.status_code == 200, resp.text
        session: str = resp.json()["sessionToken"]
        return session

    def headers_for(self, method: str, path: str) -> dict[str, str]:
        kind = classify(path)
        with self._lock:
            if kind is Kind.EXCHANGE:
                return {
                    "X-Fluide-Api-Key": self.server.api_key,
                    "X-Fluide-Api-Secret": self.api_secret,
                    "X-Fluide-Client-Id": CLIENT_ID,
                }
            if kind in (Kind.PRODUCT, Kind.DEVELOPER):
                if (method, path) in FRESH_TOKEN:
                    token = self._exchange()
                else:
                    self._token = self._token or self._exchange()
                    token = self._token
                return {
                    "Authorization": f"Bearer {token}",
                    "X-Fluide-Api-Key": self.server.api_key,
                    "X-Fluide-Client-Id": CLIENT_ID,
                }
            if kind is Kind.ACCOUNT:
                if (method, path) in FRESH_SESSION:
                    session = self._sign_in()
                else:
                    self._session = self._session or self._sign_in()
                    session = self._session
                return {"Authorization": f"Bearer {session}"}
            if kind is Kind.OAUTH_CLIENT:  # client_secret_basic: the key and the secret
                basic = base64.b64encode(f"{self.server.api_key}:{self.api_secret}".encode())
                return {"Authorization": "Basic " + basic.decode()}
            return {}

    def after(self, method: str, path: str, response: Any) -> None:
        self.statuses.setdefault((method, path), set()).add(response.status_code)
        if (method, path) == ("POST", "/api/v1/authorize/rotate-secret") and (
            response.status_code == 200
        ):
            with self._lock:
                self.api_secret = response.json()["apiSecret"]
                self._token = None


@pytest.fixture(scope="module")
def credentials(live_server: LiveServer) -> Credentials:
    return Credentials(live_server)


def _run_operation(
    operation: Any, credentials: Credentials, base_url: str, mode: GenerationMode
) -> None:
    method, path = operation.method.upper(), operation.path

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES[mode],
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        headers = {k: v for k, v in (case.headers or {}).items() if k.lower() not in OURS}
        headers.update(credentials.headers_for(method, path))
        case.headers = headers
        response = case.call(base_url=base_url)
        credentials.after(method, path, response)
        case.validate_response(response, checks=CHECKS)

    run()


def _documented_example(api: Any, method: str, path: str) -> Any:
    """The JSON request example the document gives for an operation, if any."""
    raw = api.raw_schema["paths"][path][method.lower()]
    content = raw.get("requestBody", {}).get("content", {}).get("application/json", {})
    if "example" in content:
        return content["example"]
    examples = content.get("examples") or {}
    for item in examples.values():
        if isinstance(item, dict) and "value" in item:
            return item["value"]
    return None


@pytest.mark.slow
def test_live_server_conforms_to_its_document(
    live_server: LiveServer, credentials: Credentials
) -> None:
    # One test over every operation: schemathesis' own pytest fixture loader does not support
    # this pytest version, and the document is only known once the server runs.
    api = schemathesis.openapi.from_url(f"{live_server.base_url}/openapi.json")
    failures: list[str] = []
    known: list[str] = []
    ran = 0
    for result in api.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        ran += 1
        for mode in MAX_EXAMPLES:
            try:
                _run_operation(operation, credentials, live_server.base_url, mode)
            except Unsatisfiable:
                # No parameters and no body: there is no invalid request to generate.
                if mode is not GenerationMode.NEGATIVE:
                    raise
            except (Exception, BaseExceptionGroup) as exc:
                # schemathesis' FailureGroup is a BaseExceptionGroup: without it here the first
                # failing operation would end the run and hide every other one.
                if label in KNOWN_SERVER_BUGS:
                    known.append(f"{label}: {KNOWN_SERVER_BUGS[label]}")
                else:
                    failures.append(f"{label} ({mode.value} data):\n{exc}")
    assert ran >= 20
    assert not failures, "\n\n".join(failures)
    # The injected credentials must really work: a suite that only ever saw 401s (documented,
    # so "conforming") would prove nothing.
    never_ok = [
        (method, path)
        for (method, path), seen in credentials.statuses.items()
        if classify(path) is not Kind.PUBLIC
        and "{" not in path
        and not any(200 <= s < 300 for s in seen)
    ]
    # Generated bodies may all miss a rule the schema cannot say (a supported currency, an
    # existing employee): then the operation's documented example, sent once with the same
    # injected credentials, must succeed.
    for method, path in never_ok:
        example = _documented_example(api, method, path)
        if example is not None:
            resp = httpx.request(
                method,
                live_server.base_url + path,
                json=example,
                headers=credentials.headers_for(method, path),
            )
            credentials.after(method, path, resp)
    still = [
        f"{method} {path}: {sorted(credentials.statuses[method, path])}"
        for method, path in never_ok
        if not any(200 <= s < 300 for s in credentials.statuses[method, path])
    ]
    assert not still, still
    if known:
        # Everything else conforms; these are reported to the lead and tracked here until fixed.
        pytest.xfail("known server bugs: " + "; ".join(sorted(set(known))))


def test_huge_page_number_is_a_400_not_a_500(
    live_server: LiveServer, credentials: Credentials
) -> None:
    headers = credentials.headers_for("GET", "/api/v1/auth/audit")
    resp = httpx.get(
        f"{live_server.base_url}/api/v1/auth/audit",
        params={"page": str(10**21)},
        headers=headers,
    )
    assert resp.status_code == 400
