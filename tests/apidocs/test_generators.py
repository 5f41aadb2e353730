"""The OpenAPI document works for code generators and other languages: stable, readable
operationIds and schema names, a binary PDF, a plain optional exchange body;
openapi-python-client generates a client from it without a warning, and that client lists
employees against a live ``fluide serve``; the Node.js samples run with the machine's ``node``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.apidocs.conftest import LiveServer
from tests.conftest import Dev
from tests.products.helpers import approved_run, headers_for

METHODS = {"get", "put", "post", "delete", "patch"}
OPERATION_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
SCHEMA_NAME = re.compile(r"^[A-Z][A-Za-z0-9_]*$")
NODE = shutil.which("node")


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


async def test_operation_ids_are_declared_dotted_and_unique(client: httpx.AsyncClient) -> None:
    ops = _ops(await _doc(client))
    ids = [op["operationId"] for _, _, op in ops]
    assert len(ids) == len(set(ids))
    for method, path, op in ops:
        # FastAPI's default ("list_employees_api_v1_hr_employees_get") never matches.
        assert OPERATION_ID.match(op["operationId"]), (method, path, op["operationId"])
    by_path = {(m, p): op["operationId"] for m, p, op in ops}
    assert by_path[("get", "/api/v1/hr/employees")] == "hr.employees.list"
    assert by_path[("post", "/api/v1/pay/payroll-runs/{run_id}/disburse")] == (
        "pay.payroll_runs.disburse"
    )
    assert by_path[("get", "/api/v1/hr/health")] == "hr.health"


async def test_schema_names_carry_no_module_path(client: httpx.AsyncClient) -> None:
    schemas = (await _doc(client))["components"]["schemas"]
    for name in schemas:
        assert SCHEMA_NAME.match(name) and "__" not in name, name
    assert {"BooksAccount", "IdentityAccount"} <= set(schemas)
    assert "AccountOut" not in schemas


async def test_the_exchange_body_is_a_plain_optional_object(client: httpx.AsyncClient) -> None:
    op = (await _doc(client))["paths"]["/api/v1/authorize/token"]["post"]
    assert op["requestBody"]["required"] is False
    media = op["requestBody"]["content"]["application/json"]
    assert media["schema"] == {"$ref": "#/components/schemas/TokenRequest"}


async def test_the_payslip_pdf_is_binary_in_either_media_type(
    client: httpx.AsyncClient, dev: Dev
) -> None:
    doc = await _doc(client)
    op = doc["paths"]["/api/v1/utils/documents/payslips/{payslip_id}.pdf"]["get"]
    binary = {"type": "string", "format": "binary"}
    assert op["responses"]["200"]["content"] == {
        "application/pdf": {"schema": binary},
        "application/octet-stream": {"schema": binary},
    }
    h = await headers_for(client, dev)
    run = await approved_run(client, h, [("1200000.00", "0123456789")])
    url = f"/api/v1/utils/documents/payslips/{run['payslips'][0]['id']}.pdf"
    for accept, expected in [
        (None, "application/pdf"),
        ("application/pdf", "application/pdf"),
        ("application/octet-stream", "application/octet-stream"),
        ("application/octet-stream, application/pdf", "application/pdf"),
        ("*/*", "application/pdf"),
    ]:
        headers = {**h, "Accept": accept} if accept else h
        resp = await client.get(url, headers=headers)
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"] == expected, accept
        assert resp.content.startswith(b"%PDF")


GENERATED_USE = """
import os, sys
from fluide_generated import AuthenticatedClient, Client
from fluide_generated.api.authorize import authorize_token
from fluide_generated.api.hr import hr_employees_create, hr_employees_list
from fluide_generated.models import EmployeeCreate, PageEmployeeOut, TokenResponse

base, key = os.environ["FLUIDE_BASE_URL"], os.environ["FLUIDE_API_KEY"]
exchange = Client(base_url=base, headers={
    "X-Fluide-Api-Key": key,
    "X-Fluide-Api-Secret": os.environ["FLUIDE_API_SECRET"],
    "X-Fluide-Client-Id": "fluide-developer",
})
token = authorize_token.sync(client=exchange)
assert isinstance(token, TokenResponse), token
api = AuthenticatedClient(base_url=base, token=token.access_token, headers={
    "X-Fluide-Api-Key": key, "X-Fluide-Client-Id": "fluide-developer"})
made = hr_employees_create.sync(client=api, body=EmployeeCreate.from_dict({
    "employeeCode": "GEN-001", "firstName": "Ada", "lastName": "Okafor",
    "email": "ada@example.com", "salary": "1200000.00", "currency": "NGN",
    "hireDate": "2026-02-01", "countryCode": "NG"}))
page = hr_employees_list.sync(client=api, limit=10)
assert isinstance(page, PageEmployeeOut), page
print("listed", page.total, [e.employee_code for e in page.items], made.id == page.items[0].id)
"""


@pytest.mark.slow
def test_openapi_python_client_generates_a_working_client(
    live_server: LiveServer, tmp_path: Path
) -> None:
    spec = tmp_path / "openapi.json"
    spec.write_bytes(httpx.get(f"{live_server.base_url}/openapi.json", timeout=30).content)
    out = tmp_path / "fluide_generated"
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    generated = subprocess.run(
        [
            *(bin_dir / "openapi-python-client", "generate", "--path", spec),
            *("--meta", "none", "--output-path", out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    output = generated.stdout + generated.stderr
    assert generated.returncode == 0, output
    # Nothing dropped, nothing skipped: the only line is the generator saying it generates.
    assert output.strip().splitlines() == [f"Generating {out}"], output
    assert (out / "api" / "hr" / "hr_employees_list.py").exists()
    assert (out / "api" / "utils" / "utils_payslip_pdf.py").exists()

    used = subprocess.run(
        [sys.executable, "-c", GENERATED_USE],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**env, **_credentials(live_server), "PYTHONPATH": str(tmp_path)},
    )
    assert used.returncode == 0, used.stderr
    assert "listed 1 ['GEN-001'] True" in used.stdout, used.stdout


def _credentials(server: LiveServer) -> dict[str, str]:
    return {
        "FLUIDE_BASE_URL": server.base_url,
        "FLUIDE_API_KEY": server.api_key,
        "FLUIDE_API_SECRET": server.api_secret,
    }


def _node_sample(doc: dict[str, Any], method: str, path: str) -> str:
    samples = doc["paths"][path][method]["x-codeSamples"]
    (node,) = [s["source"] for s in samples if s["label"] == "Node.js"]
    return str(node)


def _run_node(source: str, server: LiveServer, tmp_path: Path, name: str) -> str:
    assert NODE is not None
    script = tmp_path / f"{name}.mjs"
    script.write_text(source)
    env = {"PATH": os.environ.get("PATH", ""), **_credentials(server)}
    done = subprocess.run(
        [NODE, str(script)], capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert server.api_secret not in done.stdout + done.stderr
    return done.stdout


@pytest.mark.skipif(NODE is None, reason="node is not installed (apt-get install -y nodejs)")
def test_the_node_samples_run_against_a_live_server(
    live_server: LiveServer, tmp_path: Path
) -> None:
    doc = httpx.get(f"{live_server.base_url}/openapi.json", timeout=30).json()
    exchanged = _run_node(
        _node_sample(doc, "post", "/api/v1/authorize/token"), live_server, tmp_path, "token"
    )
    assert exchanged.startswith("token cached until 20"), exchanged

    created = json.loads(
        _run_node(_node_sample(doc, "post", "/api/v1/hr/employees"), live_server, tmp_path, "c")
    )
    example = doc["paths"]["/api/v1/hr/employees"]["post"]["requestBody"]["content"]
    assert created["employeeCode"] == example["application/json"]["example"]["employeeCode"]
    listed = json.loads(
        _run_node(_node_sample(doc, "get", "/api/v1/hr/employees"), live_server, tmp_path, "l")
    )
    assert created["id"] in [e["id"] for e in listed["items"]]
    # A deduplicated POST: the sample sends its own Idempotency-Key.
    funding = _node_sample(doc, "post", "/api/v1/pay/wallets/{currency}/fund")
    assert '"Idempotency-Key": randomUUID()' in funding
    funded = json.loads(
        _run_node(funding.replace("YOUR_CURRENCY", "NGN"), live_server, tmp_path, "fund")
    )
    assert funded["currency"] == "NGN"
