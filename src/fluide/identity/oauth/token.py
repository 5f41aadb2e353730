"""``POST /oauth/token`` (RFC 6749 §4.4): the client-credentials grant, served by the exchange.

Like the JSON exchange (``identity.exchange.lane``), it is served from a lane of its own ahead
of FastAPI's layers (``gateway.middleware`` hands it the requests); the route below documents
the operation and serves it under a ``root_path``. Its answers are RFC 6749's, not the Fluide
envelope: a token (§5.1) or an error (§5.2), always with ``Cache-Control: no-store``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from starlette.types import Receive, Scope, Send

from fluide.catalog import Access, declares
from fluide.identity import dpop
from fluide.identity.audit import Actor
from fluide.identity.authn import read_headers
from fluide.identity.dpop_replay import DpopReplay
from fluide.identity.exchange.service import Exchange
from fluide.identity.oauth import wire
from fluide.identity.oauth.outage import outage_error
from fluide.identity.oauth.schemas import OAUTH_ERROR_RESPONSES, OAuthTokenResponse
from fluide.identity.session_tokens import DEVELOPER_CLIENT
from fluide.kit.errors import AppError, send_json
from fluide.kit.proxies import TrustedProxies, client_address

log = logging.getLogger("fluide.dpop")
router = APIRouter(tags=["OAuth 2.0"])

_TOKEN_FORM: dict[str, Any] = {
    "parameters": [
        {
            "name": "DPoP",
            "in": "header",
            "required": False,
            "description": "A DPoP proof (RFC 9449, `htm` POST, `htu` this endpoint's URL): "
            "the token is then bound to its key (`token_type` DPoP). See docs/oauth.md.",
            "schema": {"type": "string", "maxLength": dpop.MAX_PROOF},
        }
    ],
    "requestBody": {
        "required": True,
        "content": {
            wire.FORM: {
                "schema": {
                    "type": "object",
                    "required": ["grant_type"],
                    "properties": {
                        "grant_type": {"type": "string", "enum": [wire.GRANT_TYPE]},
                        "scope": {
                            "type": "string",
                            "maxLength": wire.MAX_SCOPE,
                            "description": "Space-separated; a subset of the key's scopes "
                            "(default: all of them)",
                            "examples": ["hr:read payroll:read"],
                        },
                        "client_id": {
                            "type": "string",
                            "maxLength": wire.MAX_CREDENTIAL,
                            "description": "The API key (client_secret_post; with "
                            "client_secret_basic it goes in the Authorization header)",
                        },
                        "client_secret": {
                            "type": "string",
                            "maxLength": wire.MAX_CREDENTIAL,
                            "format": "password",
                            "description": "The API secret (client_secret_post only)",
                        },
                    },
                }
            }
        },
    },
}


@router.post(
    wire.TOKEN_PATH,
    operation_id="oauth.token",
    response_model=OAuthTokenResponse,
    responses=OAUTH_ERROR_RESPONSES,
    openapi_extra=_TOKEN_FORM,
)
@declares(Access.OAUTH_CLIENT)
async def oauth_token(request: Request) -> Response:
    """Get an access token with the client-credentials grant (RFC 6749 §4.4).

    The OAuth client id is the API key and the client secret the API secret, sent with HTTP
    Basic (`client_secret_basic`) or in the form (`client_secret_post`), never both. The token
    is the same JWT as `/api/v1/authorize/token` gives, by the same exchange: the same secret
    rules, limits and lock-out. Errors are RFC 6749 §5.2 bodies.
    """
    endpoint: OAuthTokenEndpoint = request.app.state.identity.oauth_token
    status, body, headers = await endpoint.answer(request)
    return Response(body, status_code=status, media_type="application/json", headers=headers)


_ROUTE = next(r for r in router.routes if isinstance(r, APIRoute))


def _raw(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


# A token's headers, encoded once (every 200 sends them).
_NO_STORE_RAW = tuple(_raw(wire.NO_STORE))


def _form_headers(raw: list[tuple[bytes, bytes]]) -> tuple[str | None, bool]:
    """The first ``Content-Type`` (as Starlette's ``Headers.get`` gives it) and whether a
    ``DPoP`` header was sent: one pass over the raw headers, beside ``read_headers``' pass
    over the credential ones."""
    content_type: str | None = None
    proof_sent = False
    for name, value in raw:
        if name == b"content-type":
            if content_type is None:
                content_type = value.decode("latin-1")
        elif name == dpop.HEADER:
            proof_sent = True
    return content_type, proof_sent


class OAuthTokenEndpoint:
    """Serve ``/oauth/token`` as a plain ASGI app (it is only given that path's ``POST``)."""

    def __init__(
        self,
        exchange: Exchange,
        proxies: TrustedProxies | None,
        dpop: DpopReplay,
        token_url: str,
    ) -> None:
        self.exchange = exchange
        self.proxies = proxies
        self.dpop = dpop
        # The URL a DPoP proof names (``htu``): the endpoint's, as the metadata publishes it.
        self.token_url = token_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = _ROUTE  # as routing would (metrics use it)
        status, body, headers = await self.answer(Request(scope, receive))
        raw: Iterable[tuple[bytes, bytes]] = (
            _NO_STORE_RAW if headers is wire.NO_STORE else _raw(headers)
        )
        await send_json(send, status, body, raw)

    async def answer(self, request: Request) -> tuple[int, bytes, dict[str, str]]:
        """(status, JSON body, headers) of one token request."""
        try:
            result = await self._token(request)
        except wire.OAuthError as err:
            return err.status, err.body(), err.headers
        except Exception as exc:  # an outage in the OAuth form (oauth.outage); a bug re-raised
            if (outage := outage_error(request.scope, exc)) is None:
                raise
            return outage.status, outage.body(), outage.headers
        return 200, wire.token_body(result.access_token, result.claims), wire.NO_STORE

    async def _token(self, request: Request) -> Any:
        scope = request.scope
        h = read_headers(scope["headers"])
        content_type, proof_sent = _form_headers(scope["headers"])
        form = wire.parse_form(await request.body(), content_type)
        grant = form.get("grant_type")
        if grant is None:
            raise wire.invalid_request("grant_type is required")
        if grant != wire.GRANT_TYPE:
            raise wire.unsupported_grant_type()
        client = wire.client_credentials(h.authorization, form)
        wanted = wire.requested_scope(form)
        jkt = await self._dpop_key(scope) if proof_sent else None
        peer = scope.get("client")
        ip = client_address(str(peer[0]) if peer else None, h.forwarded, self.proxies)
        state = scope.get("state")
        actor = Actor("anonymous", None, ip, state.get("request_id") if state else None)
        try:
            return await self.exchange.exchange(
                actor,
                api_key=client.client_id,
                api_secret=client.client_secret,
                client_id=DEVELOPER_CLIENT,
                scope=wanted,
                jkt=jkt,
            )
        except AppError as exc:
            raise wire.from_app_error(exc) from None

    async def _dpop_key(self, scope: Scope) -> str:
        """For a request with a ``DPoP`` header (RFC 9449 §5): the thumbprint of the key its
        proof is made with, once the proof passed every check and its ``jti`` was unused; else
        ``invalid_dpop_proof``."""
        try:
            proof = await self.dpop.verify(
                scope["headers"], method=scope["method"], url=self.token_url
            )
        except dpop.ProofInvalid as exc:
            log.info("DPoP proof refused", extra={"reason": exc.reason})
            raise wire.invalid_dpop_proof() from None
        except AppError as exc:  # the replay store does not answer: 503
            raise wire.from_app_error(exc) from None
        return proof.jkt
