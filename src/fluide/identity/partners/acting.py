"""The guard's act-as check (DESIGN §3.7), one function the gateway's middleware calls after
checks 2–10 on every product request.

A product call may carry ``X-Workspace-Id`` and ``X-Acting-Company-Id``: both or neither. With
neither, the principal is returned as it is (the call is the tenant's own). With both, in
this order: each exactly once, non-empty, at most ``MAX_ID`` characters of ``[A-Za-z0-9_-]``
(else 400 ``VALIDATION_FAILED``); the token carries ``partner:client:act-as`` (else 403
``INSUFFICIENT_SCOPE``); the workspace is one of the token's tenant's (else 404
``WORKSPACE_NOT_FOUND``) and the company an active one of that workspace (else 404
``COMPANY_NOT_FOUND``): another tenant's ids answer exactly like ids that do not exist. The
membership is read from the in-memory ``TenancyView``, never from the database.
"""

from __future__ import annotations

import dataclasses
import re

from fluide.identity.errors import CompanyNotFound, InsufficientScope, WorkspaceNotFound
from fluide.identity.principal import ACT_AS_SCOPE, Principal
from fluide.identity.tenancy import TenancyView
from fluide.kit.errors import ValidationFailed

WORKSPACE_HEADER = "X-Workspace-Id"
COMPANY_HEADER = "X-Acting-Company-Id"
_WORKSPACE = WORKSPACE_HEADER.lower().encode()
_COMPANY = COMPANY_HEADER.lower().encode()
MAX_ID = 64
_ID = re.compile(rb"[A-Za-z0-9_-]{1,%d}\Z" % MAX_ID)


def acting_caller(
    principal: Principal, raw_headers: list[tuple[bytes, bytes]], tenancy: TenancyView
) -> Principal:
    """The principal this product call runs as: itself, or acting for a client company."""
    workspace: list[bytes] = []
    company: list[bytes] = []
    for name, value in raw_headers:
        if name == _WORKSPACE:
            workspace.append(value)
        elif name == _COMPANY:
            company.append(value)
    if not workspace and not company:
        return principal
    errors = _shape_errors(workspace, WORKSPACE_HEADER) | _shape_errors(company, COMPANY_HEADER)
    if errors:
        raise ValidationFailed(errors=errors)
    if ACT_AS_SCOPE not in principal.scopes:
        raise InsufficientScope(ACT_AS_SCOPE)
    workspace_id, company_id = workspace[0].decode("ascii"), company[0].decode("ascii")
    if not tenancy.workspace_of(principal.tenant_id, workspace_id):
        raise WorkspaceNotFound
    if not tenancy.company_in(workspace_id, company_id):
        raise CompanyNotFound
    return dataclasses.replace(principal, workspace_id=workspace_id, company_id=company_id)


def _shape_errors(values: list[bytes], header: str) -> dict[str, list[str]]:
    """What is wrong with one act-as header's values (never echoing them)."""
    if not values:
        other = COMPANY_HEADER if header == WORKSPACE_HEADER else WORKSPACE_HEADER
        return {header: [f"required with {other}: send both headers or neither"]}
    if len(values) > 1:
        return {header: ["send this header once"]}
    if _ID.match(values[0]) is None:
        return {header: [f"an id of 1 to {MAX_ID} letters, digits, '_' or '-'"]}
    return {}
