"""The OpenAPI document: valid 3.1, the Fluide security contract, error codes, examples, samples."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate
from pydantic import BaseModel

from fluide.apidocs import error_responses
from fluide.app import App
from fluide.gateway import guarded_router, require_scope
from fluide.kit.errors import AppError
from tests.conftest import Dev, bearer, exchange

PRODUCT_SECURITY = [{"bearer": [], "fluideApiKey": [], "fluideClientId": []}]
EXCHANGE_SECURITY = [{"fluideApiKey": [], "fluideApiSecret": [], "fluideClientId": []}]
GUARD_401 = [
    "AUTHORIZATION_MISSING",
    "AUTHORIZATION_MALFORMED",
    "MISSING_API_KEY",
    "MISSING_CLIENT_ID",
    "TOKEN_INVALID",
    "TOKEN_EXPIRED",
    "TOKEN_REVOKED",
    "CLIENT_AUDIENCE_MISMATCH",
    "API_KEY_MISMATCH",
    "CREDENTIAL_REVOKED",
    "CREDENTIAL_EXPIRED",
    "DPOP_PROOF_INVALID",
]
METHODS = {"get", "put", "post", "delete", "patch"}


async def _doc(client: httpx.AsyncClient) -> dict[str, Any]:
    resp = await client.get("/openapi.json")
    assert resp.status_code == 200
    body: dict[str, Any] = resp.json()
    return body


def _ops(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


def _validator(doc: dict[str, Any], schema: dict[str, Any]) -> OAS31Validator:
    return OAS31Validator({**schema, "components": doc["components"]})


def _codes(op: dict[str, Any], status: int) -> list[str]:
    codes: list[str] = op["responses"][str(status)]["x-error-codes"]
    return codes


async def test_document_is_valid_openapi_31(client: httpx.AsyncClient) -> None:
    doc = await _doc(client)
    assert doc["openapi"].startswith("3.1")
    validate(doc)


async def test_security_schemes_match_the_header_contract(client: httpx.AsyncClient) -> None:
    schemes = (await _doc(client))["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert schemes["bearer"]["bearerFormat"] == "JWT"
    for name, header, default in [
        ("fluideApiKey", "X-Fluide-Api-Key", "fl_dev_your_key"),
        ("fluideClientId", "X-Fluide-Client-Id", "fluide-developer"),
        ("fluideApiSecret", "X-Fluide-Api-Secret", None),
    ]:
        assert schemes[name]["type"] == "apiKey"
        assert schemes[name]["in"] == "header"
        assert schemes[name]["name"] == header
        assert schemes[name].get("x-default") == default


async def test_each_kind_of_route_requires_its_credentials(client: httpx.AsyncClient) -> None:
    doc = await _doc(client)
    paths = doc["paths"]
    for product in ("hr", "payroll", "pay", "books", "utils"):
        assert paths[f"/api/v1/{product}/health"]["get"]["security"][:1] == PRODUCT_SECURITY
    assert paths["/api/v1/authorize/token"]["post"]["security"] == EXCHANGE_SECURITY
    for method, path in [
        ("get", "/api/v1/authorize/current"),
        ("post", "/api/v1/authorize/rotate-secret"),
        ("post", "/api/v1/authorize/revoke"),
        ("get", "/api/v1/auth-context/{jti}"),
    ]:
        alternatives = paths[path][method]["security"]
        assert {"bearer": [], "fluideClientId": []} in alternatives
        assert all("fluideApiSecret" not in a for a in alternatives)
    for method, path in [
        ("get", "/api/v1"),
        ("get", "/api/v1/health"),
        ("get", "/.well-known/jwks.json"),
        ("post", "/api/v1/auth/signup"),
        ("post", "/api/v1/auth/signin"),
    ]:
        assert paths[path][method]["security"] == []
    # The secret is only ever asked for by the exchange.
    for _, path, op in _ops(doc):
        if any("fluideApiSecret" in alt for alt in op["security"]):
            assert path == "/api/v1/authorize/token"


# DESIGN §3.7: every product operation may carry the act-as headers.
ACTING_404 = ["WORKSPACE_NOT_FOUND", "COMPANY_NOT_FOUND"]
PRODUCT_PREFIXES = tuple(f"/api/v1/{p}/" for p in ("hr", "payroll", "pay", "books", "utils"))


async def test_product_operations_list_the_guard_codes(client: httpx.AsyncClient) -> None:
    doc = await _doc(client)
    tags = {"hr": "HR", "payroll": "Payroll", "pay": "Pay", "books": "Books", "utils": "Utils"}
    for product, tag in tags.items():
        op = doc["paths"][f"/api/v1/{product}/health"]["get"]
        assert op["tags"] == [tag]
        assert op["x-required-scope"] == f"{product}:read"
        # VALIDATION_FAILED: the act-as headers, one without the other (DESIGN §3.7).
        assert _codes(op, 400) == ["API_SECRET_NOT_ALLOWED", "VALIDATION_FAILED"]
        assert _codes(op, 404) == ACTING_404
        headers = {p["name"]: p for p in op["parameters"] if p["in"] == "header"}
        for name in ("X-Workspace-Id", "X-Acting-Company-Id"):
            assert headers[name]["required"] is False and "example" not in headers[name]
        assert _codes(op, 401) == GUARD_401
        assert _codes(op, 403) == ["IP_NOT_ALLOWED", "INSUFFICIENT_SCOPE"]
        assert f"'{product}:read'" in op["responses"]["403"]["description"]
        assert _codes(op, 429) == ["RATE_LIMITED"]
        assert _codes(op, 500) == ["INTERNAL_ERROR"]
        assert "Retry-After" in op["responses"]["429"]["headers"]
        assert "Authorization field missing" in op["responses"]["401"]["description"]


async def test_every_product_operation_offers_the_act_as_headers(
    client: httpx.AsyncClient,
) -> None:
    doc = await _doc(client)
    products = [(m, p, op) for m, p, op in _ops(doc) if p.startswith(PRODUCT_PREFIXES)]
    assert len(products) > 20
    for method, path, op in products:
        names = [p["name"] for p in op.get("parameters", []) if p["in"] == "header"]
        assert {"X-Workspace-Id", "X-Acting-Company-Id"} <= set(names), (method, path)
        assert "partner:client:act-as" in op["description"]
    for method, path, op in _ops(doc):
        if path.startswith("/api/v1/workspaces"):
            assert "INSUFFICIENT_SCOPE" in _codes(op, 403), (method, path)
            assert op["security"][0].keys() >= {"bearer", "fluideClientId"}


async def test_operations_that_read_another_product_name_every_scope(
    client: httpx.AsyncClient,
) -> None:
    doc = await _doc(client)
    pdf = doc["paths"]["/api/v1/utils/documents/payslips/{payslip_id}.pdf"]["get"]
    assert pdf["x-required-scopes"] == ["utils:read", "payroll:read"]
    # The OAuth scope syntax: space-separated, all of them required.
    assert pdf["x-required-scope"] == "utils:read payroll:read"
    assert "`utils:read` and `payroll:read`" in pdf["description"]
    assert "'utils:read' and 'payroll:read'" in pdf["responses"]["403"]["description"]
    disburse = doc["paths"]["/api/v1/pay/payroll-runs/{run_id}/disburse"]["post"]
    assert disburse["x-required-scopes"] == ["pay:write", "payroll:read"]
    run = doc["paths"]["/api/v1/payroll/runs"]["post"]
    assert run["x-required-scopes"] == ["payroll:write", "hr:read"]
    # A single-scope operation reads as before.
    for method, path, op in _ops(doc):
        if path.startswith("/api/v1/hr/"):
            assert op["x-required-scopes"] == [op["x-required-scope"]], (method, path)


async def test_every_documented_401_names_its_challenge(client: httpx.AsyncClient) -> None:
    doc = await _doc(client)
    seen = 0
    for method, path, op in _ops(doc):
        response = op["responses"].get("401")
        if response is None:
            continue
        seen += 1
        described = response["headers"]["WWW-Authenticate"]["description"]
        scheme = "FluideApiKey" if path == "/api/v1/authorize/token" else "Bearer"
        if path.startswith("/oauth/"):
            scheme = "Basic"  # RFC 6749 §5.2 (DESIGN §3.1)
        assert scheme in described, (method, path, described)
    assert seen >= 40


async def test_exchange_lists_the_codes_of_design_3_2(client: httpx.AsyncClient) -> None:
    op = (await _doc(client))["paths"]["/api/v1/authorize/token"]["post"]
    assert _codes(op, 400) == ["VALIDATION_FAILED"]
    assert set(_codes(op, 401)) == {
        "DEVELOPER_KEYS_INVALID",
        "CLIENT_ID_INVALID",
        "CREDENTIAL_REVOKED",
        "CREDENTIAL_EXPIRED",
    }
    assert _codes(op, 403) == ["EMAIL_NOT_VERIFIED", "IP_NOT_ALLOWED"]
    assert _codes(op, 429) == ["RATE_LIMITED"]
    assert op["tags"] == ["Authorize"]
    example = op["requestBody"]["content"]["application/json"]["example"]
    assert "scope" not in example  # a pasted example must not narrow the playground's token
    ok = op["responses"]["200"]["content"]["application/json"]["example"]
    assert ok["tokenType"] == "Bearer"
    assert ok["fluideClientId"] == "fluide-developer"


async def test_every_operation_has_examples_samples_and_enveloped_errors(
    client: httpx.AsyncClient,
) -> None:
    doc = await _doc(client)
    envelope = _validator(doc, {"$ref": "#/components/schemas/ErrorEnvelope"})
    for method, path, op in _ops(doc):
        where = f"{method.upper()} {path}"
        assert op.get("tags"), where
        assert op.get("summary"), where
        assert "422" not in op["responses"], where
        samples = {s["lang"]: s["source"] for s in op["x-codeSamples"]}
        assert set(samples) == {"Shell", "Python", "JavaScript"}, where
        assert "fetch(" in samples["JavaScript"], where
        assert samples["Shell"].startswith("curl "), where
        if op["security"][:1] == PRODUCT_SECURITY:
            assert "FluideClient(" in samples["Python"], where
            assert f'client.request("{method.upper()}", ' in samples["Python"], where
            assert "X-Fluide-Api-Secret" not in samples["Shell"], where
        body = op.get("requestBody", {}).get("content", {}).get("application/json")
        if body is not None:
            assert "example" in body, where
            _validator(doc, body["schema"]).validate(body["example"])
        for status, resp in op["responses"].items():
            media = resp.get("content", {}).get("application/json")
            if status.startswith("2") and media is not None:
                assert "example" in media, f"{where} {status}"
                _validator(doc, media["schema"]).validate(media["example"])
            if int(status) >= 400 and media and "x-error-codes" in resp:
                assert media["schema"] == {"$ref": "#/components/schemas/ErrorEnvelope"}
                assert set(media["examples"]) == set(resp["x-error-codes"]), where
                for example in media["examples"].values():
                    envelope.validate(example["value"])
                    assert example["value"]["statusCode"] == int(status)


async def test_tags_cover_every_product(client: httpx.AsyncClient) -> None:
    names = [t["name"] for t in (await _doc(client))["tags"]]
    for tag in ("HR", "Payroll", "Pay", "Books", "Utils", "Authorize", "Accounts", "Service"):
        assert tag in names


class _EntryLocked(AppError):
    status, code, message = 409, "LEDGER_LOCKED", "The ledger is closed for this period"


class _Entry(BaseModel):
    amount: str
    currency: str


async def test_routes_added_later_are_documented_by_path(
    app: App, client: httpx.AsyncClient
) -> None:
    r = guarded_router("books")

    @r.post(
        "/ledgers/{ledger_id}/entries",
        dependencies=[require_scope("books:write")],
        status_code=201,
        response_model=_Entry,
        responses={**error_responses(_EntryLocked), 404: {"description": "No such ledger"}},
    )
    async def add_entry(ledger_id: str, body: _Entry) -> _Entry:
        """Add an entry to a ledger."""
        return body

    app.fastapi.include_router(r)
    app.fastapi.openapi_schema = None
    doc = await _doc(client)
    validate(doc)
    op = doc["paths"]["/api/v1/books/ledgers/{ledger_id}/entries"]["post"]
    assert op["summary"] == "Add an entry to a ledger"
    assert op["tags"] == ["Books"]
    assert op["security"][:1] == PRODUCT_SECURITY
    assert op["x-required-scope"] == "books:write"
    assert _codes(op, 400) == ["API_SECRET_NOT_ALLOWED", "VALIDATION_FAILED"]
    assert _codes(op, 404) == [*ACTING_404, "NOT_FOUND"]
    assert _codes(op, 409) == ["LEDGER_LOCKED"]
    assert op["responses"]["409"]["content"]["application/json"]["examples"]["LEDGER_LOCKED"]
    assert "x-fluide-declared-errors" not in str(doc)
    assert "'books:write'" in op["responses"]["403"]["description"]
    assert op["requestBody"]["content"]["application/json"]["example"] == {
        "amount": "string",
        "currency": "EUR",
    }
    assert "json={'amount': 'string', 'currency': 'EUR'}" in op["x-codeSamples"][1]["source"]


async def test_live_answers_use_documented_codes_and_the_envelope(
    client: httpx.AsyncClient, dev: Dev
) -> None:
    doc = await _doc(client)
    envelope = _validator(doc, {"$ref": "#/components/schemas/ErrorEnvelope"})
    paths = doc["paths"]
    token = (await exchange(client, dev))["accessToken"]
    hr = paths["/api/v1/hr/health"]["get"]
    cases: list[tuple[dict[str, Any], httpx.Response]] = [
        (hr, await client.get("/api/v1/hr/health")),
        (hr, await client.get("/api/v1/hr/health", headers=dev.exchange_headers())),
        (hr, await client.get("/api/v1/hr/health", headers={"Authorization": "Basic x"})),
        (
            hr,
            await client.get(
                "/api/v1/hr/health",
                headers={**bearer(token, dev), "X-Fluide-Api-Key": "fl_dev_your_key"},
            ),
        ),
        (paths["/api/v1/authorize/token"]["post"], await client.post("/api/v1/authorize/token")),
        (
            paths["/api/v1/authorize/token"]["post"],
            await client.post(
                "/api/v1/authorize/token",
                headers=dev.exchange_headers(secret="fl_sk_" + "x" * 40),
            ),
        ),
        (
            paths["/api/v1/auth-context/{jti}"]["get"],
            await client.get("/api/v1/auth-context/nope", headers=bearer(token, dev)),
        ),
    ]
    seen = set()
    for op, resp in cases:
        assert resp.status_code >= 400
        body = resp.json()
        envelope.validate(body)
        assert body["code"] in _codes(op, resp.status_code), body
        seen.add(body["code"])
    assert seen == {
        "AUTHORIZATION_MISSING",
        "API_SECRET_NOT_ALLOWED",
        "AUTHORIZATION_MALFORMED",
        "API_KEY_MISMATCH",
        "VALIDATION_FAILED",
        "DEVELOPER_KEYS_INVALID",
        "NOT_FOUND",
    }


@pytest.mark.parametrize("path", ["/api/v1/authorize/token", "/api/v1/hr/health"])
async def test_document_is_built_once_and_cached(
    app: App, client: httpx.AsyncClient, path: str
) -> None:
    first = await _doc(client)
    assert app.fastapi.openapi_schema is not None
    assert path in first["paths"]
    assert await _doc(client) == first


def _all_codes(op: dict[str, Any]) -> set[str]:
    return {c for resp in op["responses"].values() for c in resp.get("x-error-codes", [])}


async def test_product_operations_list_the_errors_they_raise(client: httpx.AsyncClient) -> None:
    paths = (await _doc(client))["paths"]
    v1 = "/api/v1"
    assert _codes(paths[f"{v1}/hr/employees"]["post"], 409) == ["EMPLOYEE_CODE_TAKEN"]
    employee = paths[f"{v1}/hr/employees/{{employee_id}}"]
    for method in ("get", "patch", "delete"):
        # The specific 404 replaces the generic guess.
        assert _codes(employee[method], 404) == [*ACTING_404, "EMPLOYEE_NOT_FOUND"], method
    assert set(_codes(paths[f"{v1}/payroll/runs/{{run_id}}/approve"]["post"], 409)) == {
        "PAYROLL_RUN_LOCKED"
    }
    runs = paths[f"{v1}/payroll/runs"]["post"]
    assert {"PAYROLL_NO_EMPLOYEES", "PAYROLL_MIXED_CURRENCIES", "PAYROLL_RULES_MISSING"} <= set(
        _codes(runs, 400)
    )
    assert _codes(runs, 404) == [*ACTING_404, "EMPLOYEE_NOT_FOUND"]
    idem = {"IDEMPOTENCY_KEY_REUSED", "IDEMPOTENCY_REQUEST_IN_PROGRESS"}
    fund = paths[f"{v1}/pay/wallets/{{currency}}/fund"]["post"]
    assert set(_codes(fund, 409)) == idem
    # The wallet is created on first use: its only 404s are the act-as headers'.
    assert _codes(fund, 404) == ACTING_404
    assert "WALLET_BALANCE_LIMIT_EXCEEDED" in _codes(fund, 400)
    payouts = paths[f"{v1}/pay/payouts"]["post"]
    assert "WALLET_INSUFFICIENT_BALANCE" in _codes(payouts, 400)
    assert set(_codes(payouts, 409)) == idem
    disburse = paths[f"{v1}/pay/payroll-runs/{{run_id}}/disburse"]["post"]
    assert set(_codes(disburse, 409)) == {
        *idem,
        "PAYROLL_RUN_NOT_APPROVED",
        "PAYROLL_RUN_ALREADY_DISBURSED",
    }
    entries = paths[f"{v1}/books/journal-entries"]["post"]
    assert {"JOURNAL_ENTRY_NOT_BALANCED", "ACCOUNT_NOT_FOUND"} <= set(_codes(entries, 400))
    assert set(_codes(entries, 409)) == idem
    pdf = paths[f"{v1}/utils/documents/payslips/{{payslip_id}}.pdf"]["get"]
    assert _codes(pdf, 404) == [*ACTING_404, "PAYSLIP_NOT_FOUND"]
    assert "application/pdf" in pdf["responses"]["200"]["content"]


async def test_every_product_error_is_documented_on_some_operation(
    client: httpx.AsyncClient,
) -> None:
    import fluide.kit.idempotency
    import fluide.products.books.service
    import fluide.products.hr.service
    import fluide.products.pay.service
    import fluide.products.payroll.service

    modules = [
        fluide.kit.idempotency,
        fluide.products.books.service,
        fluide.products.hr.service,
        fluide.products.pay.service,
        fluide.products.payroll.service,
    ]
    defined = {
        obj.code
        for module in modules
        for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, AppError) and obj.__module__ == module.__name__
    }
    assert len(defined) >= 15
    doc = await _doc(client)
    documented = set().union(*(_all_codes(op) for _, path, op in _ops(doc) if "/api/v1/" in path))
    assert defined <= documented, sorted(defined - documented)


async def test_oauth2_client_credentials_scheme_and_scopes_in_security(
    client: httpx.AsyncClient,
) -> None:
    """Issue 16: the playground can fetch a token from key + secret, and each product
    operation names its scopes in its standard ``security`` requirement."""
    doc = await _doc(client)
    flow = doc["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == "/oauth/token"
    assert set(flow["scopes"]) >= {"hr:read", "books:write", "utils:read"}
    seen = 0
    for method, path, op in _ops(doc):
        if "x-required-scopes" not in op:
            continue
        seen += 1
        oauth = [alt for alt in op["security"] if "oauth2" in alt]
        assert oauth == [
            {"oauth2": op["x-required-scopes"], "fluideApiKey": [], "fluideClientId": []}
        ], (method, path)
    assert seen >= 30
