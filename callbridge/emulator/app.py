"""The emulator as an ASGI app: Meta's Graph API subset, signed webhooks, and the control API."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aioice.ice
import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from callbridge.emulator import control, graph_api
from callbridge.emulator.control_http import install_error_handlers
from callbridge.emulator.errors import EmulatorError
from callbridge.emulator.graph_common import graph_error_response
from callbridge.emulator.webhooks import WebhookSender
from callbridge.emulator.world import World


@dataclass
class EmulatorSettings:
    host: str = "127.0.0.1"
    port: int = 1338
    files_dir: Path = Path("./files")
    media_timeout: float = 20.0  # Meta ends calls that get no media from the business for this long at the start
    established_media_timeout: float | None = None  # ... and for this long once established (default 1.5x: 30 s)
    accept_timeout: float = 60.0  # how long a user's call rings at the business unaccepted
    ring_timeout: float = 60.0  # how long a business's call rings at a user who does not answer


def gather_on(host: str) -> None:
    # aioice leaves out loopback addresses; virtual users must be reachable where the emulator listens.
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [host]


def create_emulator_app(settings: EmulatorSettings) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        gather_on(settings.host)
        async with httpx.AsyncClient(timeout=10.0, trust_env=False) as http:
            sender = WebhookSender(http)
            app.state.world = World(
                sender,
                settings.files_dir,
                media_timeout=settings.media_timeout,
                accept_timeout=settings.accept_timeout,
                ring_timeout=settings.ring_timeout,
                established_media_timeout=settings.established_media_timeout,
            )
            try:
                yield
            finally:
                await app.state.world.close()
                await sender.close()

    app = FastAPI(
        title="callbridge emulator",
        description="A stand-in for Meta's Graph API calling endpoints and for WhatsApp users.",
        lifespan=lifespan,
    )

    @app.exception_handler(EmulatorError)
    async def _graph_error(_: Request, exc: EmulatorError) -> JSONResponse:
        return graph_error_response(exc)

    install_error_handlers(app)

    app.include_router(control.router)  # before the Graph routes, whose /{version}/{id} would match /emulator/x
    app.include_router(graph_api.router)
    return app
