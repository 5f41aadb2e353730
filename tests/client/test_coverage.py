"""Every operation of ``/openapi.json`` has an SDK method, on both clients, named by the
operation's ``operationId`` (``hr.employees.list`` is ``client.hr.employees.list``), and the SDK
names none the server does not have. A new route fails here until it gets a method or a
reason."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fluide.apidocs.openapi import build_openapi
from fluide.app import create_app
from fluide.client import AsyncFluideClient, FluideClient
from fluide.client._resource import OperationInfo, operations
from tests.client.keys import KEY, SECRET
from tests.conftest import make_settings

METHODS = {"get", "put", "post", "delete", "patch"}
ACCOUNT = "the dashboard's account session (email and password), not an API-key integration"
OAUTH = (
    "standard OAuth 2.0 for unmodified OAuth clients (docs/oauth.md); the SDK gets its tokens "
    "from the same exchange through FluideClient.token()"
)
# Operations the SDK covers without a resource method, and why.
BY_HAND = {("POST", "/api/v1/authorize/token"): "FluideClient.token() (every call uses it)"}
# Operations the SDK deliberately leaves out, and why.
EXCLUDED = {
    ("GET", "/api/v1"): "the service root: a signpost for people",
    ("GET", "/api/v1/health"): "the auth service's liveness, for load balancers",
    ("GET", "/livez"): "the process's liveness, for orchestrators",
    ("GET", "/readyz"): "the process's readiness, for orchestrators and load balancers",
    ("GET", "/.well-known/jwks.json"): "public keys for services that verify tokens",
    ("GET", "/api/v1/auth/.well-known/jwks.json"): "the same keys under /api/v1",
    ("POST", "/api/v1/auth/signup"): ACCOUNT,
    ("POST", "/api/v1/auth/verify/resend"): ACCOUNT,
    ("POST", "/api/v1/auth/verify"): ACCOUNT,
    ("POST", "/api/v1/auth/signin"): ACCOUNT,
    ("POST", "/api/v1/auth/signout"): ACCOUNT,
    ("GET", "/api/v1/auth/me"): ACCOUNT,
    ("GET", "/api/v1/auth/credentials"): ACCOUNT,
    ("POST", "/api/v1/auth/credentials"): ACCOUNT,
    ("GET", "/api/v1/auth/credentials/{credential_id}"): ACCOUNT,
    ("POST", "/api/v1/auth/credentials/{credential_id}/revoke"): ACCOUNT,
    ("POST", "/api/v1/auth/credentials/{credential_id}/rotate-secret"): ACCOUNT,
    ("GET", "/api/v1/auth/audit"): ACCOUNT,
    ("PATCH", "/api/v1/auth/credentials/{credential_id}"): ACCOUNT,
    ("GET", "/api/v1/auth/usage"): ACCOUNT,
    ("GET", "/api/v1/auth/usage.csv"): ACCOUNT,
    ("POST", "/oauth/token"): OAUTH,
    ("POST", "/oauth/introspect"): OAUTH,
    ("POST", "/oauth/revoke"): OAUTH,
    ("GET", "/.well-known/oauth-authorization-server"): OAUTH,
}


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp: Path = tmp_path_factory.mktemp("openapi")
    return build_openapi(create_app(make_settings(tmp, f"sqlite+aiosqlite:///{tmp}/f.db")).fastapi)


def document_ops(doc: dict[str, Any]) -> Iterator[tuple[tuple[str, str], dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield (method.upper(), path), op


def sdk_ops(client: object) -> dict[tuple[str, str], str]:
    found: dict[tuple[str, str], str] = {}
    for name, info in operations(client):
        key = (info.method, info.path)
        assert key not in found, f"{name} and {found[key]} are the same operation"
        found[key] = name
    return found


def infos(client: object) -> dict[str, OperationInfo]:
    return dict(operations(client))


def test_every_operation_has_an_sdk_method(document: dict[str, Any]) -> None:
    with FluideClient("http://x", KEY, SECRET) as fluide:
        sdk = sdk_ops(fluide)
    in_doc = dict(document_ops(document))
    missing = sorted(set(in_doc) - set(sdk) - set(BY_HAND) - set(EXCLUDED))
    assert missing == [], f"operations without an SDK method (add one, or a reason): {missing}"
    assert sorted(set(sdk) - set(in_doc)) == [], "SDK methods for operations the server lacks"
    stale = sorted((set(BY_HAND) | set(EXCLUDED)) - set(in_doc))
    assert stale == [], f"reasons kept for operations that no longer exist: {stale}"
    assert not set(sdk) & (set(BY_HAND) | set(EXCLUDED))
    # The document's operationId is the SDK's name for the operation.
    assert {key: in_doc[key]["operationId"] for key in sdk} == sdk
    assert in_doc[("POST", "/api/v1/authorize/token")]["operationId"] == "authorize.token"
    # The brief's list, by name: what the SDK's users will type.
    for name in (
        "hr.employees.list",
        "hr.employees.delete",
        "payroll.runs.approve",
        "payroll.payslips.get",
        "payroll.settings.update",
        "pay.wallets.fund",
        "pay.payroll_runs.disburse",
        "books.journal_entries.void",
        "books.trial_balance",
        "utils.payslip_pdf",
        "authorize.rotate_secret",
        "authorize.auth_context",
        "workspaces.list",
        "workspaces.delete",
        "workspaces.companies.create",
        "workspaces.companies.update",
    ):
        assert name in sdk.values(), name


async def test_both_clients_have_the_same_operations() -> None:
    with FluideClient("http://x", KEY, SECRET) as sync:
        expected = infos(sync)
        assert infos(sync.with_options(timeout=1)) == expected
    assert len(expected) >= 39
    async with AsyncFluideClient("http://x", KEY, SECRET) as async_client:
        assert infos(async_client) == expected
        assert infos(async_client.with_options(max_retries=0)) == expected


def test_retried_posts_are_exactly_those_the_server_deduplicates(document: dict[str, Any]) -> None:
    """A POST is retried after an ambiguous failure only where the route takes an
    Idempotency-Key; every other POST still sends one, but is not repeated."""
    ops = dict(document_ops(document))
    with FluideClient("http://x", KEY, SECRET) as fluide:
        for name, info in operations(fluide):
            op = ops[(info.method, info.path)]
            headers = {p["name"] for p in op.get("parameters", []) if p["in"] == "header"}
            assert info.dedupes == ("Idempotency-Key" in headers), name
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert set(re.findall(r"{(\w+)}", info.path)) == declared, name
    assert sum(1 for _, info in operations(fluide) if info.dedupes) == 4
