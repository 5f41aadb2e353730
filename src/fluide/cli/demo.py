"""``fluide demo``: a tenant with data to call, and the lines to paste to call it.

The account is created in the database (like ``accounts create``); everything else goes through
the running server's API with the SDK, as an integration would. That also proves the server
and this command share a database: a server on another data dir does not know the new key, and
the demo says so instead of printing lines that would fail.
"""

from __future__ import annotations

import os
import shlex
import uuid
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fluide.cli.client_cmds import DEFAULT_BASE_URL_HINT, check_base_url
from fluide.cli.common import CliError, DataDir, console, friendly, run, settings_for

if TYPE_CHECKING:
    from fluide.client import FluideClient
    from fluide.settings import Settings

CLIENT_ID = "fluide-developer"
# (salary, bank account): NGN monthly salaries, sandbox accounts that settle.
STAFF = (
    ("Ada", "Obi", "3600000.00", "0123456789"),
    ("Bayo", "Adeyemi", "1234567.89", "0987654321"),
    ("Chioma", "Eze", "987654.35", "1122334455"),
)


def _reachable(base: str) -> None:
    import httpx

    try:
        httpx.get(f"{base}/api/v1/health", timeout=5.0)
    except httpx.HTTPError as exc:
        raise CliError(
            f"cannot reach {base}: start the server first (`fluide serve`, or `make serve`), "
            "or pass --base-url"
        ) from exc


def _seed(fluide: FluideClient, run_tag: str) -> dict[str, Any]:
    """Employees, an approved payroll run, and a wallet funded with exactly its net pay."""
    for i, (first, last, salary, account) in enumerate(STAFF, start=1):
        fluide.send(
            "POST",
            "hr/employees",
            json={
                "employeeCode": f"E{i}",
                "firstName": first,
                "lastName": last,
                "email": f"{first.lower()}@demo.example.com",
                "salary": salary,
                "currency": "NGN",
                "hireDate": "2024-01-15",
                "countryCode": "NG",
                "bankAccount": {"accountNumber": account, "bankCode": "058"},
            },
        )
    today = date.today()
    period = {"periodMonth": today.month, "periodYear": today.year}
    pay_date = date(today.year, today.month, 28).isoformat()
    payroll = fluide.send("POST", "payroll/runs", json={**period, "payDate": pay_date}).json()
    fluide.send("POST", f"payroll/runs/{payroll['id']}/approve")
    net = payroll["totals"]["net"]
    fluide.send(
        "POST",
        "pay/wallets/NGN/fund",
        json={"amount": net},
        headers={"Idempotency-Key": f"demo-fund-{run_tag}"},
    )
    return {"runId": payroll["id"], "net": net, "period": f"{today.year}-{today.month:02d}"}


def _lines(base: str, out: dict[str, str], seeded: dict[str, Any]) -> list[str]:
    q = shlex.quote
    headers = '-H "Authorization: Bearer $TOKEN" -H "X-Fluide-Api-Key: $KEY" ' + (
        f'-H "X-Fluide-Client-Id: {CLIENT_ID}"'
    )
    run_id = seeded["runId"]
    return [
        f"# Demo tenant {out['tenantId']}: {len(STAFF)} employees, payroll run {run_id} for "
        f"{seeded['period']} (approved, net pay NGN {Decimal(seeded['net']):,}), and an NGN "
        "wallet funded with exactly that.",
        "# Paste these lines into a shell to pay everyone (the secret is shown once):",
        f"BASE={q(base)}",
        f"KEY={q(out['apiKey'])}",
        f"SECRET={q(out['apiSecret'])}",
        'TOKEN=$(curl -sS -X POST "$BASE/api/v1/authorize/token" -H "X-Fluide-Api-Key: $KEY" '
        f'-H "X-Fluide-Api-Secret: $SECRET" -H "X-Fluide-Client-Id: {CLIENT_ID}" '
        "| python3 -c 'import json,sys; print(json.load(sys.stdin)[\"accessToken\"])')",
        f'curl -sS -X POST "$BASE/api/v1/pay/payroll-runs/{run_id}/disburse" {headers} '
        f'-H "Idempotency-Key: disburse-{run_id}"',
    ]


@friendly
def demo(
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url",
            help=f"The running server (default FLUIDE_BASE_URL or {DEFAULT_BASE_URL_HINT})",
        ),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Seed a demo tenant (employees, an approved payroll run, a funded wallet) on the running
    server and print a curl that pays the run."""
    from fluide.cli import operations
    from fluide.client import AuthenticationError, FluideClient

    base = (base_url or os.environ.get("FLUIDE_BASE_URL") or DEFAULT_BASE_URL_HINT).rstrip("/")
    check_base_url(base)
    settings = settings_for(data_dir)
    _reachable(base)
    operations.prepare(settings)
    tag = uuid.uuid4().hex[:8]
    out = run(_create(settings, tag))
    with FluideClient(base, out["apiKey"], out["apiSecret"], token_cache=None) as fluide:
        try:
            fluide.token()
        except AuthenticationError as exc:
            from fluide.cli.errors import database_label

            raise CliError(
                f"the server at {base} does not know the key just created in "
                f"{database_label(settings)}: it uses another data dir or database; run "
                "`fluide demo` with the server's --data-dir / FLUIDE_DATA_DIR"
            ) from exc
        seeded = _seed(fluide, tag)
    console.print(f"demo account demo-{tag}@example.com is ready", markup=False)
    print("\n".join(_lines(base, out, seeded)))


async def _create(settings: Settings, tag: str) -> dict[str, str]:
    from fluide.cli import operations

    return await operations.create_account(
        settings, f"demo-{tag}@example.com", None, f"Demo {tag}", verified=True
    )
