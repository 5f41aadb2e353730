"""An outage at the OAuth endpoints, in the form OAuth clients handle (docs/oauth.md).

Elsewhere a database or Redis outage is the envelope's 503 ``SERVICE_UNAVAILABLE``
(``kit.faults``). An OAuth client reads only RFC 6749 §5.2 bodies: given the envelope,
requests-oauthlib reports a missing token and a client may store the body as one. So at
``/oauth/token``, ``/oauth/introspect`` and ``/oauth/revoke`` the same outage is a 503 with the
same ``Retry-After``, ``Cache-Control: no-store`` and ``{"error": "temporarily_unavailable"}``:
Authlib raises on the status, oauthlib on the error, and both retry after ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.types import Scope

from fluide.identity.oauth import wire
from fluide.kit import faults
from fluide.kit.errors import ServiceUnavailable


def outage_error(scope: Scope, exc: BaseException) -> wire.OAuthError | None:
    """The OAuth 503 for ``exc`` if it is an outage (noted as ``kit.faults`` notes one) or
    another ``ServiceUnavailable``; None for anything else (a bug stays a bug)."""
    unavailable: ServiceUnavailable | None = (
        exc if isinstance(exc, ServiceUnavailable) else faults.noted(scope, exc)
    )
    if unavailable is None:
        return None
    return wire.temporarily_unavailable(unavailable.headers.get("Retry-After"))


def error_response(err: wire.OAuthError) -> Response:
    return Response(
        err.body(), status_code=err.status, media_type="application/json", headers=err.headers
    )


class OAuthRoute(APIRoute):
    """A route whose outages answer in the OAuth form: also one raised while its unit of work
    commits (the session dependency ends inside the route's handler)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                err = outage_error(request.scope, exc)
                if err is None:
                    raise
                return error_response(err)

        return answer
