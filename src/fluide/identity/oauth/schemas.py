"""Wire models of the OAuth endpoints: RFC names (snake_case), not the Fluide camelCase."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class OAuthTokenResponse(BaseModel):
    """RFC 6749 §5.1."""

    access_token: str
    # "DPoP" for a token bound to the key of the request's DPoP proof (RFC 9449 §5.1).
    token_type: Literal["Bearer", "DPoP"] = "Bearer"  # noqa: S105
    expires_in: int = Field(examples=[900])
    scope: str = Field(examples=["hr:read payroll:read"])


class OAuthErrorResponse(BaseModel):
    """RFC 6749 §5.2."""

    error: Literal[
        "invalid_request",
        "invalid_client",
        "invalid_scope",
        "unsupported_grant_type",
        "unauthorized_client",
        "temporarily_unavailable",
        "invalid_dpop_proof",
    ]
    error_description: str


class OAuthIntrospection(BaseModel):
    """RFC 7662 §2.2: ``{"active": false}`` and nothing else for any token that is not an active
    token of the caller's tenant."""

    active: bool
    scope: str | None = None
    client_id: str | None = None
    token_type: str | None = None
    exp: int | None = None
    iat: int | None = None
    nbf: int | None = None
    sub: str | None = None
    aud: str | None = None
    iss: str | None = None
    jti: str | None = None
    tenant_id: str | None = None
    cnf: dict[str, str] | None = Field(
        default=None, description='A DPoP-bound token\'s key: `{"jkt": thumbprint}`'
    )


class OAuthServerMetadata(BaseModel):
    """RFC 8414 §2."""

    model_config = {"extra": "allow"}

    issuer: str
    token_endpoint: str
    jwks_uri: str
    introspection_endpoint: str
    revocation_endpoint: str
    grant_types_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    scopes_supported: list[str]
    response_types_supported: list[str]
    service_documentation: str
    dpop_signing_alg_values_supported: list[str]


def _error(description: str, **headers: str) -> dict[str, Any]:
    out: dict[str, Any] = {"model": OAuthErrorResponse, "description": description}
    if headers:
        out["headers"] = {
            name.replace("_", "-"): {"description": text, "schema": {"type": "string"}}
            for name, text in headers.items()
        }
    return out


OAUTH_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {
        "description": "RFC 6749 §5.2: `invalid_request`, `invalid_scope`, "
        "`unsupported_grant_type`, `unauthorized_client`; at the token endpoint, "
        "`invalid_dpop_proof` (RFC 9449 §5) for a `DPoP` proof that fails a check. Input the "
        "service's edge refuses "
        "before reading it (a NUL character, `X-Fluide-Api-Secret`) gets the Fluide envelope.",
        "content": {
            "application/json": {
                "schema": {
                    "anyOf": [
                        {"$ref": "#/components/schemas/OAuthErrorResponse"},
                        {"$ref": "#/components/schemas/ErrorEnvelope"},
                    ]
                }
            }
        },
    },
    401: _error(
        "`invalid_client`: unknown client, wrong secret, revoked key, or no or malformed client "
        "authentication",
        WWW_Authenticate='`Basic realm="fluide", charset="UTF-8"` (RFC 6749 §5.2)',
    ),
    # An outage at any of the three endpoints, in OAuth's format (identity.oauth.outage).
    503: _error(
        "`temporarily_unavailable`: a database or Redis outage; nothing was issued (a revocation "
        "cut while committing may or may not have landed: send it again)",
        Retry_After="Seconds to wait before retrying.",
    ),
    429: _error(
        "`temporarily_unavailable`: too many attempts (the exchange's limits and lock-out)",
        Retry_After="Seconds to wait before retrying.",
    ),
}
