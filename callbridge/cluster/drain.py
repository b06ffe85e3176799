"""A node stops gracefully: the first SIGTERM (or Ctrl-C) drains it, taking no new calls and keeping its live ones
until they end or the drain timeout passes; a second signal stops it at once, its calls ended cleanly."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from types import FrameType

import uvicorn

log = logging.getLogger(__name__)


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, drain: Callable[[], Awaitable[None]] | None) -> None:
        super().__init__(config)
        self._drain = drain
        self._draining: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._drain is None or self._loop is None or self._draining is not None or self.should_exit:
            super().handle_exit(sig, frame)
            return
        # A Python signal handler runs between two bytecodes of whatever the loop was doing: start the drain
        # from the loop itself.
        self._loop.call_soon_threadsafe(self._start_draining, sig)

    def _start_draining(self, sig: int) -> None:
        if self._draining is None and not self.should_exit:
            log.info("draining: no new calls here; stopping once the live ones end (signal again to stop now)")
            self._draining = asyncio.ensure_future(self._drain_then_exit(sig))

    async def _drain_then_exit(self, sig: int) -> None:
        assert self._drain is not None
        try:
            await self._drain()
        except Exception:
            log.exception("draining failed; stopping")
        self._captured_signals.append(sig)
        self.should_exit = True
