"""The act-as headers of partner tenancy (DESIGN §3.7) in the OpenAPI document: optional on
every product operation, as the playground's optional fields, and on ``auth-context``, which
shows the workspace and company they name."""

from __future__ import annotations

from typing import Any

ACT_AS_NOTE = (
    "**Partners (acting for a client company):** add both `X-Workspace-Id` and "
    "`X-Acting-Company-Id` (e.g. `wsp_0193…` and `cmp_0193…`) with a token that carries "
    "`partner:client:act-as`; the call then runs on that company's own data. Both or neither: "
    "one alone is 400 `VALIDATION_FAILED`; another tenant's workspace or company is 404."
)
# Not product operations, but they read the act-as headers (checked as the guard checks them).
SHOWS_ACTING = {("get", "/api/v1/auth-context/{jti}")}
SHOWS_ACTING_NOTE = (
    "**Partners:** send `X-Workspace-Id` and `X-Acting-Company-Id` as on a product call to see "
    "them in `workspaceId` and `companyId`, checked the same way (both or neither, 400; the "
    "token needs `partner:client:act-as`, 403; another tenant's workspace or company is 404)."
)
ACT_AS_HEADERS = (
    ("X-Workspace-Id", "A workspace of your partner tenant (with `X-Acting-Company-Id`)."),
    ("X-Acting-Company-Id", "A company of that workspace: the call runs on its data."),
)


def add_act_as_headers(op: dict[str, Any]) -> None:
    """DESIGN §3.7: the act-as headers, optional on every product operation. No example
    value: Swagger UI would pre-fill it and make every playground call act for a client."""
    params: list[dict[str, Any]] = op.setdefault("parameters", [])
    have = {p.get("name", "").lower() for p in params}
    for name, description in ACT_AS_HEADERS:
        if name.lower() not in have:
            params.append(
                {
                    "name": name,
                    "in": "header",
                    "required": False,
                    "description": description + " Partners only; both headers or neither.",
                    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
                }
            )
