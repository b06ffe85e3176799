"""/docs served whole by the gateway: Swagger UI's script, style sheet and icon come from the pinned
``fastapi-offline`` package (a copy of swagger-ui-dist), so the page works with no Internet access."""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(fastapi_offline.__file__).parent / "static"
ASSETS_URL = "/docs/assets"
# Nothing Swagger UI might fetch from elsewhere: no validator badge (validator.swagger.io).
PARAMETERS = {"validatorUrl": None}


def install_docs(app: FastAPI, url: str = "/docs") -> None:
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-assets")

    @app.get(url, include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
            swagger_ui_parameters={**PARAMETERS, **(app.swagger_ui_parameters or {})},
        )
