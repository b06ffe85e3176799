"""The gateway process: wires settings, storage, events and the HTTP API together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from callbridge import __version__
from callbridge.api.envelope import install_error_handlers
from callbridge.api.middleware import BodyLimitMiddleware, RequestIdMiddleware
from callbridge.api.routes import admin, calls, events, health, media, sessions, webhook, webrtc
from callbridge.calls.service import CallService
from callbridge.config import Settings
from callbridge.connectors.base import Connector
from callbridge.connectors.cloud import webhook as meta_webhook
from callbridge.connectors.cloud.connector import CloudConnector
from callbridge.events.dispatcher import Dispatcher
from callbridge.events.outbox import Outbox
from callbridge.loop_lag import LoopLag
from callbridge.media import aiortc_fixes
from callbridge.media.ice import IceSettings, gather_on
from callbridge.media.turn_check import TurnStatus, check_turn
from callbridge.sessions import SessionService
from callbridge.store import Database
from callbridge.store.models import SessionRow

log = logging.getLogger(__name__)
TURN_CHECK_EVERY = 300.0  # seconds
WEB_DIR = Path(__file__).parent / "web"

API_DESCRIPTION = """
callbridge lets a person speak and listen on live WhatsApp voice calls from a browser, and lets a server play
files into calls and record them. Its API is WaGo's: the same routes, `token`/`admintoken` headers and envelope
(`{"code":200,"data":{...},"success":true}` or `{"code":4xx,"error":"...","success":false}`).
JSON field names match case-insensitively.
"""


class Gateway:
    """Everything one gateway process owns."""

    def __init__(self, settings: Settings, admin_token: str) -> None:
        self.settings = settings
        self.admin_token = admin_token
        self.db = Database(settings.resolved_database_url())
        # trust_env=False: never route Graph or webhook traffic through a proxy picked up from the environment.
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(15.0), trust_env=False, follow_redirects=False)
        self.sessions = SessionService(self.db, self.http)
        self.dispatcher = Dispatcher(
            self.db,
            self.http,
            timeout=settings.webhook_timeout,
            retry_base=settings.webhook_retry_base,
            retry_cap=settings.webhook_retry_cap,
            give_up_after=settings.webhook_give_up_after,
        )
        self.outbox = Outbox(self.dispatcher.notify)
        self._turn_task: asyncio.Task[None] | None = None
        self.loop_lag = LoopLag()
        self.ice = IceSettings.parse(
            settings.ice_servers,
            settings.ice_hosts,
            turn_secret=settings.turn_secret.get_secret_value() if settings.turn_secret else None,
            turn_ttl=settings.turn_ttl,
            public_ip=settings.public_ip,
            relay_only=settings.ice_relay_only,
        )
        self.call_token_key = settings.call_token_key()
        self.turn = TurnStatus()
        self.calls = CallService(
            self.db, self.outbox, self.connector, settings.ring_timeout, self.ice, settings.files_dir
        )

    def connector(self, session: SessionRow) -> Connector:
        return CloudConnector(self.sessions.graph(session), self.ice)

    async def start(self) -> None:
        self.settings.ensure_dirs()
        gather_on(self.ice.hosts)
        aiortc_fixes.install()
        await self.db.migrate()
        await self.calls.recover()
        self.dispatcher.start()
        self.loop_lag.start()
        self._turn_task = asyncio.create_task(self._watch_turn(), name="turn-check")
        log.info("gateway started", extra={"version": __version__})

    async def _watch_turn(self) -> None:
        """Ask the TURN server, now and every few minutes, whether it takes our credentials."""
        if not self.ice.turn_configured:
            return
        while True:
            self.turn = await check_turn(self.ice)
            await asyncio.sleep(TURN_CHECK_EVERY)

    async def stop(self) -> None:
        self.loop_lag.stop()
        if self._turn_task is not None:
            self._turn_task.cancel()
        await self.calls.shutdown()
        await self.dispatcher.stop()
        await self.http.aclose()
        await self.db.close()

    async def before_session_delete(self, session: SessionRow) -> None:
        await self.calls.end_session_calls(session)


def create_app(settings: Settings, admin_token: str) -> FastAPI:
    gw = Gateway(settings, admin_token)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await gw.start()
        try:
            yield
        finally:
            await gw.stop()

    app = FastAPI(
        title="callbridge",
        version=__version__,
        description=API_DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.gateway = gw
    install_error_handlers(app)
    routers = (health, sessions, webhook, calls, events, webrtc, media, meta_webhook, admin)
    for module in routers:
        app.include_router(module.router)
    app.mount("/sdk", StaticFiles(directory=WEB_DIR), name="sdk")
    app.mount("/web", StaticFiles(directory=WEB_DIR), name="web")

    @app.get("/", include_in_schema=False)
    async def softphone() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html")

    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestIdMiddleware)
    return app
