"""API reference: the OpenAPI 3.1 document and the offline interactive playground at ``/docs``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from fluide.apidocs.openapi import build_openapi
from fluide.apidocs.responses import error_responses
from fluide.apidocs.routes import build_router

__all__ = ["build_openapi", "error_responses", "install_api_docs"]


def install_api_docs(app: FastAPI) -> None:
    """Serve the customised ``/openapi.json`` and the playground at ``/docs``.

    Call it after every router is mounted: the document is built on first request from
    ``app.routes`` and cached.
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.include_router(build_router(app.openapi_url or "/openapi.json", app.title))
