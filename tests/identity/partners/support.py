"""Partner tenants, workspaces and companies for the tests: real accounts, real HTTP."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from fluide.app import App
from fluide.identity.audit import Actor
from tests.conftest import Dev
from tests.products.helpers import headers_for

WS, CO = "X-Workspace-Id", "X-Acting-Company-Id"


async def create_partner(rt: App) -> Dev:
    """A verified developer of a PARTNER tenant with its default credential."""
    actor = Actor("system", "test", None, None)
    email = f"partner-{uuid.uuid4().hex[:8]}@example.com"
    async with rt.infra.sessionmaker() as session, session.begin():
        account, _ = await rt.identity.accounts.sign_up(
            session, actor, email=email, password=None, tenant_name=None, partner=True
        )
        issued = await rt.identity.accounts.mark_verified(session, actor, account)
        assert issued is not None
        return Dev(
            account.id,
            account.tenant_id,
            issued.credential.id,
            issued.credential.api_key,
            issued.api_secret,
        )


async def new_workspace(
    client: httpx.AsyncClient, headers: dict[str, str], name: str = "Clients"
) -> str:
    resp = await client.post("/api/v1/workspaces", json={"name": name}, headers=headers)
    assert resp.status_code == 201, resp.text
    wid: str = resp.json()["id"]
    return wid


async def new_company(
    client: httpx.AsyncClient, headers: dict[str, str], workspace_id: str, **body: Any
) -> str:
    payload = {"name": "Acme", "countryCode": "NG", "currency": "NGN", **body}
    resp = await client.post(
        f"/api/v1/workspaces/{workspace_id}/companies", json=payload, headers=headers
    )
    assert resp.status_code == 201, resp.text
    cid: str = resp.json()["id"]
    return cid


def acting(headers: dict[str, str], workspace_id: str, company_id: str) -> dict[str, str]:
    return {**headers, WS: workspace_id, CO: company_id}


async def partner_with_companies(
    client: httpx.AsyncClient, rt: App, n: int = 2
) -> tuple[Dev, dict[str, str], str, list[str]]:
    """A partner, its product headers, one workspace and ``n`` companies in it."""
    partner = await create_partner(rt)
    headers = await headers_for(client, partner)
    wid = await new_workspace(client, headers)
    companies = [await new_company(client, headers, wid, name=f"C{i}") for i in range(n)]
    return partner, headers, wid, companies
