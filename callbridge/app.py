"""The HTTP application: the gateway's routes, error envelope and middleware around one :class:`Gateway`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from callbridge import __version__
from callbridge.api.docs import install_docs
from callbridge.api.envelope import install_error_handlers
from callbridge.api.forwarding import install_forwarding
from callbridge.api.middleware import install_middleware
from callbridge.api.openapi import CallbridgeAPI
from callbridge.api.routes import (
    admin,
    autoanswer,
    calls,
    events,
    files,
    health,
    internal,
    media,
    metrics,
    rtp,
    sessions,
    streams,
    transfer,
    webhook,
    webrtc,
    whatsapp,
)
from callbridge.config import Settings
from callbridge.gateway import Gateway

WEB_DIR = Path(__file__).parent / "web"

API_DESCRIPTION = """
callbridge lets a person speak and listen on live WhatsApp voice calls from a browser, and lets a server play
files into calls and record them. Its API is WaGo's: the same routes, `token`/`admintoken` headers and envelope
(`{"code":200,"data":{...},"success":true}` or `{"code":4xx,"error":"...","success":false}`).
JSON field names match case-insensitively.
"""


def create_app(settings: Settings, admin_token: str) -> FastAPI:
    gw = Gateway(settings, admin_token)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await gw.start()
        try:
            yield
        finally:
            await gw.stop()

    app = CallbridgeAPI(
        title="callbridge",
        version=__version__,
        description=API_DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # install_docs: Swagger UI from the gateway itself, not from a CDN
        redoc_url=None,
    )
    app.state.gateway = gw
    install_error_handlers(app)
    install_forwarding(app, gw)
    routers = (
        health,
        sessions,
        webhook,
        calls,
        events,
        webrtc,
        media,
        transfer,
        streams,
        autoanswer,
        files,
        rtp,
        whatsapp,
        admin,
        internal,
        metrics,
    )
    for module in routers:
        app.include_router(module.router)
    install_docs(app)
    app.mount("/sdk", StaticFiles(directory=WEB_DIR), name="sdk")
    app.mount("/web", StaticFiles(directory=WEB_DIR), name="web")

    @app.get("/", include_in_schema=False)
    async def softphone() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html")

    install_middleware(app, settings)
    return app
