"""``/docs``: Swagger UI served from files installed with the project (no CDN, works offline).

Swagger UI 5 (the first to render OpenAPI 3.1) comes from the ``swagger-ui-py`` package; the
page's own script and styles live in ``apidocs/static``. Only a fixed list of files is served.
"""

from __future__ import annotations

import html
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, HTMLResponse

import fluide
from fluide.kit.errors import NotFound

# Self only. Swagger UI sets inline styles through the DOM (allowed); its icons are data: URIs.
CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
_MEDIA = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


def _swagger_dir() -> Path:
    return Path(str(files("swagger_ui") / "static"))


def _own_dir() -> Path:
    return Path(str(files("fluide.apidocs") / "static"))


def asset_paths() -> dict[str, Path]:
    """The files ``/docs/assets/<name>`` may serve, and where each is installed."""
    swagger, own = _swagger_dir(), _own_dir()
    return {
        "swagger-ui-bundle.js": swagger / "swagger-ui-bundle.js",
        "swagger-ui.css": swagger / "swagger-ui.css",
        "favicon-32x32.png": swagger / "favicon-32x32.png",
        "favicon-16x16.png": swagger / "favicon-16x16.png",
        "fluide-docs.js": own / "fluide-docs.js",
        "fluide-docs.css": own / "fluide-docs.css",
    }


def docs_page(root: str, openapi_url: str, title: str) -> str:
    v = html.escape(fluide.__version__, quote=True)
    a = html.escape(f"{root}/docs/assets", quote=True)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} — API reference</title>
<link rel="icon" type="image/png" href="{a}/favicon-32x32.png?v={v}">
<link rel="stylesheet" href="{a}/swagger-ui.css?v={v}">
<link rel="stylesheet" href="{a}/fluide-docs.css?v={v}">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{html.escape(root + openapi_url, quote=True)}"></div>
<script src="{a}/swagger-ui-bundle.js?v={v}"></script>
<script src="{a}/fluide-docs.js?v={v}"></script>
</body>
</html>
"""


def build_router(openapi_url: str, title: str) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    assets = asset_paths()

    @router.get("/docs")
    async def docs(request: Request) -> HTMLResponse:
        """The interactive API reference."""
        root = str(request.scope.get("root_path", "")).rstrip("/")
        headers = dict(SECURITY_HEADERS)
        headers["Cache-Control"] = "no-cache"
        return HTMLResponse(docs_page(root, openapi_url, title), headers=headers)

    @router.get("/docs/assets/{name}")
    async def asset(name: str) -> Response:
        path = assets.get(name)
        if path is None or not path.is_file():
            raise NotFound("No such asset")
        headers: dict[str, Any] = {
            "Cache-Control": "public, max-age=3600",
            "X-Content-Type-Options": "nosniff",
        }
        return FileResponse(path, media_type=_MEDIA[path.suffix], headers=headers)

    return router
