"""The SDK's ``acting_as``: a client that sends both act-as headers on every call, sharing the
token, against the real app."""

from __future__ import annotations

import httpx
import pytest

from fluide.app import App
from fluide.client import AsyncFluideClient, NotFoundError
from fluide.client.models import AuthContext
from tests.client.test_common import client_for
from tests.identity.partners.support import (
    create_partner,
    new_company,
    new_workspace,
    partner_with_companies,
)
from tests.products.helpers import employee, headers_for


async def test_acting_as_works_on_the_companys_data(app: App, client: httpx.AsyncClient) -> None:
    partner = await create_partner(app)
    h = await headers_for(client, partner)
    wid = await new_workspace(client, h)
    a, b = await new_company(client, h, wid), await new_company(client, h, wid)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    fluide: AsyncFluideClient = client_for(app, partner, transport)
    async with fluide:
        in_a = fluide.acting_as(wid, a)
        created = await in_a.request("POST", "/api/v1/hr/employees", json=employee("SDK1"))
        assert created["employeeCode"] == "SDK1"
        listed = await in_a.request("GET", "/api/v1/hr/employees")
        assert [e["id"] for e in listed["items"]] == [created["id"]]
        for other in (fluide, fluide.acting_as(wid, b)):
            assert (await other.request("GET", "/api/v1/hr/employees"))["total"] == 0
        with pytest.raises(ValueError, match="company id"):
            fluide.acting_as(wid, "")


async def test_auth_context_shows_whom_the_client_acts_for(
    app: App, client: httpx.AsyncClient
) -> None:
    partner = await create_partner(app)
    h = await headers_for(client, partner)
    wid = await new_workspace(client, h)
    a = await new_company(client, h, wid)
    _, _, owid, (oa, _) = await partner_with_companies(client, app)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    fluide: AsyncFluideClient = client_for(app, partner, transport)
    async with fluide:
        own = await fluide.authorize.auth_context()
        assert isinstance(own, AuthContext)
        assert (own.workspace_id, own.company_id) == (None, None)
        shown = await fluide.acting_as(wid, a).authorize.auth_context()
        assert (shown.workspace_id, shown.company_id) == (wid, a)
        assert shown.jti == own.jti  # the same token: the acting is the request's
        with pytest.raises(NotFoundError):
            await fluide.acting_as(owid, oa).authorize.auth_context()
