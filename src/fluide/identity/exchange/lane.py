"""The exchange on the wire: its documented route, and ``ExchangeFastPath``, which serves it in
a lane of its own.

The app's pipeline (``fluide.app``) hands ``POST /api/v1/authorize/token`` (and its legacy
alias) to ``ExchangeFastPath`` from the gateway's middleware, after the same request-id and
input-limit layers as every other request, and ahead of FastAPI's and Starlette's own layers
(OpenTelemetry hook, server-error, exception-telemetry and body-limit middlewares, router,
route wrapper, dependency machinery), which do nothing for it and cost about a tenth of its CPU
(measured with ``make bench``: docs/performance.md). The route below documents the operation,
and serves it under a ``root_path``, where the lane steps aside.
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.types import Receive, Scope, Send

from fluide.catalog import Access, declares
from fluide.identity import tokens
from fluide.identity.audit import Actor
from fluide.identity.authn import read_headers
from fluide.identity.errors import EXCHANGE_CHALLENGE
from fluide.identity.exchange.service import Exchange
from fluide.identity.schemas import TokenRequest, TokenResponse
from fluide.kit.errors import (
    AppError,
    Unauthorized,
    app_error_response,
    send_json,
    validation_error_response,
)
from fluide.kit.proxies import TrustedProxies, client_address

router = APIRouter(prefix="/api/v1", tags=["Authorize"])
_EXCHANGE_BODY = {
    "requestBody": {
        # Optional (the headers usually carry the values): a plain optional object, which
        # generators understand, rather than FastAPI's anyOf[TokenRequest, null].
        "required": False,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TokenRequest"}}},
    }
}
_NO_BODY = TokenRequest()
_NO_STORE = {"Cache-Control": "no-store"}
_NO_STORE_RAW = ((b"cache-control", b"no-store"),)


@router.post(
    "/authorize/token",
    operation_id="authorize.token",
    response_model=TokenResponse,
    openapi_extra=_EXCHANGE_BODY,
)
@router.post(
    "/developer-access/token",
    response_model=TokenResponse,
    openapi_extra=_EXCHANGE_BODY,
    include_in_schema=False,
)
@declares(Access.EXCHANGE)
async def exchange_token(request: Request) -> Response:
    """Exchange an API key and secret for a short-lived access token."""
    # No dependencies and no database session: the exchange reads through the credential
    # snapshot and writes through group commit; the body (optional, usually empty: the headers
    # carry the values) is read here and the answer serialised directly. In the app this runs
    # from ExchangeFastPath, ahead of routing; the route documents it (and serves it under a
    # root_path).
    lane: ExchangeFastPath = request.app.state.identity.lane
    return Response(await lane.answer(request), media_type="application/json", headers=_NO_STORE)


# path → its route: the fast path records it in the scope, as routing would (metrics use it).
_EXCHANGE_ROUTES = {route.path: route for route in router.routes if isinstance(route, APIRoute)}
PATHS = frozenset(_EXCHANGE_ROUTES)


class ExchangeFastPath:
    """Serve the exchange as a plain ASGI app (it is only ever given the exchange's requests).

    Errors get the same envelope as everywhere else (kit.errors).
    """

    def __init__(self, service: Exchange, proxies: TrustedProxies | None) -> None:
        self.service = service
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = _EXCHANGE_ROUTES[scope["path"]]
        request = Request(scope, receive)
        error: Response
        try:
            body = await self.answer(request)
        except AppError as exc:
            error = app_error_response(request, exc)
        except RequestValidationError as exc:
            error = validation_error_response(request, exc)
        else:
            # What exchange_token's Response would send, without building one.
            await send_json(send, 200, body, _NO_STORE_RAW)
            return
        await error(scope, receive, send)

    async def answer(self, request: Request) -> bytes:
        """The exchange's JSON answer, or the AppError to answer with."""
        scope = request.scope
        h = read_headers(scope["headers"])  # the request's one header scan
        body = await _token_request(request)
        peer = scope.get("client")
        ip = client_address(str(peer[0]) if peer else None, h.forwarded, self.proxies)
        state = scope.get("state")
        actor = Actor("anonymous", None, ip, state.get("request_id") if state else None)
        try:
            result = await self.service.exchange(
                actor,
                api_key=h.api_key or body.api_key,
                api_secret=h.secret or body.api_secret,
                client_id=h.client_id or body.client_id,
                scope=h.scope or body.scope,
            )
        except Unauthorized as exc:
            # Whatever the class (CREDENTIAL_REVOKED is a Bearer error on other routes), a 401
            # of the exchange challenges for what it takes: the key, the secret and the client.
            exc.headers = {**exc.headers, "WWW-Authenticate": EXCHANGE_CHALLENGE}
            raise
        if state is not None:  # who it was, for the access log
            state["credential_id"] = result.claims["sub"]
            state["tenant_id"] = result.claims["tenant_id"]
        return orjson.dumps(tokens.exchange_body(result))


async def _token_request(request: Request) -> TokenRequest:
    raw = await request.body()
    if not raw.strip() or raw.strip() == b"null":
        return _NO_BODY
    try:
        return TokenRequest.model_validate_json(raw)
    except ValidationError as exc:
        # The same 400 VALIDATION_FAILED envelope as any other body (kit.errors); input values
        # are never echoed.
        raise RequestValidationError(exc.errors(include_url=False, include_input=False)) from None
