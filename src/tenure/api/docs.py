"""``/docs``: Swagger UI served from this process, with no request to any other host.

The viewer's files come from the pinned ``swagger-ui-py`` package (Swagger UI 5, which reads
OpenAPI 3.1) and are served under ``/docs/assets/``; the page loads the document from
``/openapi.json``. Like ``/docs`` itself, the assets need no API key (api/gate.py).
"""

from __future__ import annotations

import html
import importlib.util
from pathlib import Path, PurePath
from typing import Any, Final

from litestar.connection import ASGIConnection
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import NotFoundException
from litestar.handlers import BaseRouteHandler
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.router import Router
from litestar.static_files import create_static_files_router

ASSETS: Final = "/docs/assets"
# The files the page loads; the package ships more (the editor), which are not served.
FILES: Final = (
    "swagger-ui.css",
    "swagger-ui-bundle.js",
    "swagger-ui-standalone-preset.js",
    "favicon-32x32.png",
    "LICENSE",
)


def asset_directory() -> Path:
    """The ``static`` folder of the installed ``swagger_ui`` package, found without importing
    it (its ``__init__`` pulls in web-framework adapters Tenure does not use)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the swagger-ui-py package is not installed; pip install -e .")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def _only_listed(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Only the files the page needs: anything else in the folder answers 404."""
    name = PurePath(str(connection.path_params.get("file_path", ""))).as_posix().lstrip("/")
    if name not in FILES:
        raise NotFoundException(f"no docs asset {name!r}")


def assets_router() -> Router:
    return create_static_files_router(
        path=ASSETS,
        directories=[asset_directory()],
        include_in_schema=False,
        name="docs_assets",
        guards=[_only_listed],
        # The files are pinned by the package version: a day of caching is safe.
        cache_control=CacheControlHeader(max_age=86_400, public=True),
    )


class SwaggerPage(OpenAPIRenderPlugin):
    """The Swagger UI page at ``/docs``, pointing at local assets and ``/openapi.json``."""

    def __init__(self, document_url: str = "/openapi.json") -> None:
        super().__init__(
            path="/",
            favicon=f"<link rel='icon' type='image/png' href='{ASSETS}/favicon-32x32.png'>",
        )
        self.document_url = document_url

    def render(self, request: Any, openapi_schema: dict[str, Any]) -> bytes:
        title = html.escape(str(openapi_schema["info"]["title"]))
        return f"""<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>{title}</title>
    {self.favicon}
    <link rel="stylesheet" href="{ASSETS}/swagger-ui.css">
    {self.style}
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="{ASSETS}/swagger-ui-bundle.js"></script>
    <script src="{ASSETS}/swagger-ui-standalone-preset.js"></script>
    <script>
      window.ui = SwaggerUIBundle({{
        url: "{self.document_url}",
        dom_id: "#swagger-ui",
        deepLinking: true,
        persistAuthorization: false,
        presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
        layout: "BaseLayout",
      }});
    </script>
  </body>
</html>
""".encode()
