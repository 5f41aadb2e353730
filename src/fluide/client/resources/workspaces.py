"""``client.workspaces``: a partner's workspaces and their client companies (docs/partners.md).

These routes need a token carrying ``partner:client:act-as``, which only a partner tenant's
credentials hold: any other key gets ``PermissionDeniedError`` (403 ``INSUFFICIENT_SCOPE``),
and another tenant's workspace or company is a ``NotFoundError``, like one that does not exist.
"""

from __future__ import annotations

from typing_extensions import Unpack

from fluide.client._call import NOT_GIVEN, NotGiven, RequestOptions, body, model, nothing, query
from fluide.client._pagination import PageData, page_of
from fluide.client._resource import Executor, ModeT, Resource, Spec, list_route, route
from fluide.client.models import (
    Company,
    CompanyCreate,
    CompanyUpdate,
    Workspace,
    WorkspaceCreate,
    WorkspaceUpdate,
)

ONE = "/api/v1/workspaces/{workspace_id}"
COMPANIES = ONE + "/companies"
COMPANY = COMPANIES + "/{company_id}"


class Companies(Resource[ModeT]):
    """The client companies of one workspace: every method takes the workspace id first."""

    @list_route(COMPANIES)
    def list(
        self,
        workspace_id: str,
        *,
        q: str | NotGiven = NOT_GIVEN,
        page: int | NotGiven = NOT_GIVEN,
        limit: int | NotGiven = NOT_GIVEN,
        **options: Unpack[RequestOptions],
    ) -> Spec[PageData[Company]]:
        """A workspace's companies, every page (``q``: part of the name; ``limit``: page size,
        at most 200)."""
        params = query(q=q, page=page, limit=limit)
        return Spec(
            page_of(Company), path={"workspace_id": workspace_id}, params=params, options=options
        )

    @route("GET", COMPANY)
    def get(
        self, workspace_id: str, company_id: str, **options: Unpack[RequestOptions]
    ) -> Spec[Company]:
        """One company of the workspace."""
        path = {"workspace_id": workspace_id, "company_id": company_id}
        return Spec(model(Company), path=path, options=options)

    @route("POST", COMPANIES)
    def create(
        self,
        workspace_id: str,
        *,
        name: str,
        country_code: str,
        currency: str,
        status: str | NotGiven = NOT_GIVEN,
        idempotency_key: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> Spec[Company]:
        """Add a client company to the workspace (``status``: ACTIVE, the default, or
        SUSPENDED)."""
        fields = {"name": name, "country_code": country_code, "currency": currency}
        return Spec(
            model(Company),
            path={"workspace_id": workspace_id},
            json=body(CompanyCreate, {**fields, "status": status}),
            options=options,
            idempotency_key=idempotency_key,
        )

    @route("PATCH", COMPANY)
    def update(
        self,
        workspace_id: str,
        company_id: str,
        *,
        name: str | NotGiven = NOT_GIVEN,
        country_code: str | NotGiven = NOT_GIVEN,
        currency: str | NotGiven = NOT_GIVEN,
        status: str | NotGiven = NOT_GIVEN,
        **options: Unpack[RequestOptions],
    ) -> Spec[Company]:
        """Change the fields you pass (a SUSPENDED company cannot be acted for)."""
        fields = {
            "name": name,
            "country_code": country_code,
            "currency": currency,
            "status": status,
        }
        return Spec(
            model(Company),
            path={"workspace_id": workspace_id, "company_id": company_id},
            json=body(CompanyUpdate, fields),
            options=options,
        )

    @route("DELETE", COMPANY)
    def delete(
        self, workspace_id: str, company_id: str, **options: Unpack[RequestOptions]
    ) -> Spec[None]:
        """Delete a company: acting for it stops within a second; its data is reachable by
        nobody."""
        path = {"workspace_id": workspace_id, "company_id": company_id}
        return Spec(nothing, path=path, options=options)


class Workspaces(Resource[ModeT]):
    def __init__(self, client: Executor) -> None:
        super().__init__(client)
        self.companies: Companies[ModeT] = Companies(client)

    @list_route("/api/v1/workspaces")
    def list(
        self,
        *,
        q: str | NotGiven = NOT_GIVEN,
        page: int | NotGiven = NOT_GIVEN,
        limit: int | NotGiven = NOT_GIVEN,
        **options: Unpack[RequestOptions],
    ) -> Spec[PageData[Workspace]]:
        """Your workspaces, every page (``q``: part of the name; ``limit``: page size, at most
        200)."""
        params = query(q=q, page=page, limit=limit)
        return Spec(page_of(Workspace), params=params, options=options)

    @route("GET", ONE)
    def get(self, workspace_id: str, **options: Unpack[RequestOptions]) -> Spec[Workspace]:
        """One of your workspaces (``NotFoundError`` for one that is not yours)."""
        return Spec(model(Workspace), path={"workspace_id": workspace_id}, options=options)

    @route("POST", "/api/v1/workspaces")
    def create(
        self,
        *,
        name: str,
        idempotency_key: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> Spec[Workspace]:
        """Create a workspace."""
        return Spec(
            model(Workspace),
            json=body(WorkspaceCreate, {"name": name}),
            options=options,
            idempotency_key=idempotency_key,
        )

    @route("PATCH", ONE)
    def update(
        self,
        workspace_id: str,
        *,
        name: str | NotGiven = NOT_GIVEN,
        **options: Unpack[RequestOptions],
    ) -> Spec[Workspace]:
        """Rename a workspace."""
        return Spec(
            model(Workspace),
            path={"workspace_id": workspace_id},
            json=body(WorkspaceUpdate, {"name": name}),
            options=options,
        )

    @route("DELETE", ONE)
    def delete(self, workspace_id: str, **options: Unpack[RequestOptions]) -> Spec[None]:
        """Delete a workspace and its companies; acting for them stops within a second."""
        return Spec(nothing, path={"workspace_id": workspace_id}, options=options)
