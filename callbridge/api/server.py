"""The HTTP server's own defences, below the application: a client must send a request's headers within
``header_timeout`` (uvicorn only times out idle keep-alive connections, so a client that sends one byte and
stalls would hold its connection forever), and one address may hold at most ``max_per_client`` connections."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any, cast

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from callbridge.config import Settings

log = logging.getLogger(__name__)
GRACEFUL_SHUTDOWN = 3  # seconds open connections get when the server stops


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout: float
    max_per_client: int  # 0: no limit
    exempt: frozenset[str]  # addresses not limited (a reverse proxy carries many clients)

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionLimits:
        exempt = frozenset(a.strip() for a in settings.proxy_addresses.split(",") if a.strip())
        return cls(settings.header_timeout, settings.max_connections_per_client, exempt)


def guarded_protocol(limits: ConnectionLimits) -> type[H11Protocol]:
    """uvicorn's h11 protocol with the limits above; one class (and one count of connections) per server."""
    open_by_client: Counter[str] = Counter()

    class GuardedH11Protocol(H11Protocol):
        _counted_as: str | None = None
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            # A stream server's transports are asyncio.Transport in behaviour; uvloop's are not subclasses of it.
            transport = cast(asyncio.Transport, transport)
            super().connection_made(transport)
            address = self.client[0] if self.client else ""
            if limits.max_per_client and address not in limits.exempt:
                if open_by_client[address] >= limits.max_per_client:
                    log.warning("connection refused: %s already holds %d", address, limits.max_per_client)
                    transport.close()
                    return
                open_by_client[address] += 1
                self._counted_as = address
            self._expect_headers()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_waiting()
            if self._counted_as is not None:
                open_by_client[self._counted_as] -= 1
                if open_by_client[self._counted_as] <= 0:
                    del open_by_client[self._counted_as]
                self._counted_as = None
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:  # the request's headers are in
                self._stop_waiting()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._expect_headers()  # the next request on this connection gets the same time

        def _expect_headers(self) -> None:
            self._stop_waiting()
            if not self.transport.is_closing():
                self._header_timer = self.loop.call_later(limits.header_timeout, self._headers_too_slow)

        def _stop_waiting(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                log.info("connection closed: no request headers within %gs", limits.header_timeout)
                self.transport.close()

    return GuardedH11Protocol


def server_config(app: Any, settings: Settings, host: str, port: int) -> uvicorn.Config:
    """How every callbridge gateway is served (``serve`` and ``demo`` alike)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=guarded_protocol(ConnectionLimits.from_settings(settings)),
        log_config=None,
        access_log=False,
        loop=settings.event_loop,
        # Event streams last as long as their calls, which end only once the app shuts down: give open
        # connections a moment, then close them and let the app end its calls.
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN,
    )
