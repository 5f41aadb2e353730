"""The authorization server's metadata (RFC 8414), introspection (RFC 7662) and revocation
(RFC 7009). The token endpoint is ``oauth.token``'s."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request, Response

from fluide.catalog import ALL_SCOPES, Access, declares
from fluide.identity import dpop
from fluide.identity.audit import Actor
from fluide.identity.authn import read_headers
from fluide.identity.oauth import wire
from fluide.identity.oauth.outage import OAuthRoute
from fluide.identity.oauth.schemas import (
    OAUTH_ERROR_RESPONSES,
    OAuthIntrospection,
    OAuthServerMetadata,
)
from fluide.identity.oauth.service import OAuthTokens
from fluide.identity.request import identity_part, request_actor
from fluide.kit.uow import DbSession, get_infra
from fluide.settings import Settings

router = APIRouter(tags=["OAuth 2.0"], route_class=OAuthRoute)

_TOKEN_FORM: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            wire.FORM: {
                "schema": {
                    "type": "object",
                    "required": ["token"],
                    "properties": {
                        "token": {"type": "string", "description": "An access token"},
                        "token_type_hint": {"type": "string", "enum": ["access_token"]},
                        "client_id": {
                            "type": "string",
                            "maxLength": wire.MAX_CREDENTIAL,
                            "description": "The API key (client_secret_post)",
                        },
                        "client_secret": {
                            "type": "string",
                            "format": "password",
                            "maxLength": wire.MAX_CREDENTIAL,
                            "description": "The API secret (client_secret_post only)",
                        },
                    },
                }
            }
        },
    }
}


def server_metadata(settings: Settings) -> dict[str, Any]:
    """RFC 8414 §2, every URL absolute from ``FLUIDE_BASE_URL``."""
    base = settings.public_base_url
    methods = list(wire.AUTH_METHODS)
    return {
        "issuer": settings.issuer,
        "token_endpoint": base + wire.TOKEN_PATH,
        "jwks_uri": base + "/.well-known/jwks.json",
        "introspection_endpoint": base + wire.INTROSPECT_PATH,
        "revocation_endpoint": base + wire.REVOKE_PATH,
        "grant_types_supported": [wire.GRANT_TYPE],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": methods,
        "introspection_endpoint_auth_methods_supported": methods,
        "revocation_endpoint_auth_methods_supported": methods,
        "scopes_supported": list(ALL_SCOPES),
        "service_documentation": base + "/docs",
        # RFC 9449 §5.1: a proof made with one of these at the token endpoint binds the token.
        "dpop_signing_alg_values_supported": list(dpop.SIGNING_ALGS),
    }


@router.get(
    "/.well-known/oauth-authorization-server",
    operation_id="oauth.metadata",
    response_model=OAuthServerMetadata,
)
async def metadata(request: Request) -> Response:
    """OAuth 2.0 authorization server metadata (RFC 8414)."""
    body = orjson.dumps(server_metadata(get_infra(request).settings))
    return Response(
        body, media_type="application/json", headers={"Cache-Control": "public, max-age=300"}
    )


def _oauth_tokens(request: Request) -> OAuthTokens:
    service: OAuthTokens = identity_part(request).oauth_tokens
    return service


async def _client_and_token(request: Request) -> tuple[wire.ClientCredentials, str, Actor]:
    form = wire.parse_form(await request.body(), request.headers.get("content-type"))
    client = wire.client_credentials(read_headers(request.scope["headers"]).authorization, form)
    token = form.get("token")
    if token is None:
        raise wire.invalid_request("token is required")
    return client, token, request_actor(request)


def _error(err: wire.OAuthError) -> Response:
    return Response(
        err.body(), status_code=err.status, media_type="application/json", headers=err.headers
    )


@router.post(
    wire.INTROSPECT_PATH,
    operation_id="oauth.introspect",
    response_model=OAuthIntrospection,
    response_model_exclude_none=True,
    responses=OAUTH_ERROR_RESPONSES,
    openapi_extra=_TOKEN_FORM,
)
@declares(Access.OAUTH_CLIENT)
async def introspect(request: Request) -> Response:
    """Introspect an access token of your tenant (RFC 7662).

    Client authentication as at `/oauth/token`. Any token that is not an active token of the
    caller's tenant (another tenant's, expired, revoked, garbage) is exactly `{"active": false}`.
    """
    service = _oauth_tokens(request)
    try:
        client, token, actor = await _client_and_token(request)
        cred = await service.authenticate(actor, client)
    except wire.OAuthError as err:
        return _error(err)
    answer = await service.introspect(cred, token)
    return Response(orjson.dumps(answer), media_type="application/json", headers=wire.NO_STORE)


@router.post(
    wire.REVOKE_PATH,
    operation_id="oauth.revoke",
    response_class=Response,
    responses={200: {"description": "Revoked, or nothing to revoke"}, **OAUTH_ERROR_RESPONSES},
    openapi_extra=_TOKEN_FORM,
)
@declares(Access.OAUTH_CLIENT)
async def revoke(request: Request, session: DbSession) -> Response:
    """Revoke an access token of your tenant (RFC 7009).

    Client authentication as at `/oauth/token`. A token of the caller's tenant stops working
    everywhere within a second; any other token (another tenant's, expired, garbage) is
    answered 200 alike and nothing changes.
    """
    service = _oauth_tokens(request)
    try:
        client, token, actor = await _client_and_token(request)
        cred = await service.authenticate(actor, client)
    except wire.OAuthError as err:
        return _error(err)
    caller = Actor("credential", cred.id, actor.source_ip, actor.request_id)
    await service.revoke(session, caller, cred, token)
    return Response(status_code=200, headers=wire.NO_STORE)
