"""The UDP side of an RTP endpoint: a port pair (RTP on an even port, RTCP on the next) from the configured range,
and symmetric RTP's rule for whom to send to and whom to believe."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from typing import cast

from callbridge.errors import Conflict
from callbridge.media.lean.demux import small_reads
from callbridge.media.rtp_sdp import Address

log = logging.getLogger(__name__)

Receive = Callable[[bytes, Address], None]


class Latch:
    """Where to send, and which sources to accept.

    Given the app's address, media goes there from the start and is accepted from any port of that host (apps
    that send and receive on different sockets). Without it, the first valid packet's source is latched (apps
    behind NAT): media goes back there, and packets from any other source are dropped.
    """

    def __init__(self, remote: Address | None) -> None:
        self.fixed = remote is not None
        self.target: Address | None = remote

    def allows(self, source: Address, rtcp: bool = False) -> bool:
        """Whether a packet from ``source`` may be looked at (before it is known to be valid)."""
        if self.target is None:
            return not rtcp  # nothing latched yet: any RTP may be the first valid one
        if self.fixed or rtcp:
            return _same_host(source[0], self.target[0])
        return _normal(source) == self.target

    def confirm(self, source: Address) -> bool:
        """A valid packet came from ``source``; returns True if that latched it just now."""
        if self.target is None:
            self.target = _normal(source)
            return True
        return False


def _normal(address: Address) -> Address:
    host = address[0].removeprefix("::ffff:")
    return host, address[1]


def _same_host(a: str, b: str) -> bool:
    return a.removeprefix("::ffff:") == b.removeprefix("::ffff:")


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, receive: Receive) -> None:
        self.receive = receive
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # the selector's is not a subclass of it

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        try:
            self.receive(data, (str(addr[0]), int(addr[1])))
        except Exception:  # one bad datagram must never take the endpoint down
            log.exception("RTP datagram from %s could not be handled", addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("RTP socket error: %s", exc)  # e.g. ICMP port unreachable while the app is not listening yet


class PortPair:
    """Two bound UDP sockets: RTP on ``port`` (even), RTCP on ``port + 1``; both hand every datagram over."""

    def __init__(self, rtp: _Protocol, rtcp: _Protocol, host: str, port: int) -> None:
        self._rtp, self._rtcp = rtp, rtcp
        self.host, self.port = host, port

    @classmethod
    async def bind(cls, host: str, ports: range, receive: Receive, on_rtcp_port: Receive) -> PortPair:
        """Bind the first free pair in ``ports``, starting at a random one; Conflict if none is free."""
        loop = asyncio.get_running_loop()
        evens = [p for p in ports if p % 2 == 0 and p + 1 in ports]
        start = random.randrange(len(evens)) if evens else 0
        for port in evens[start:] + evens[:start]:
            try:
                _, rtp = await loop.create_datagram_endpoint(lambda: _Protocol(receive), local_addr=(host, port))
            except OSError:
                continue
            try:
                _, rtcp = await loop.create_datagram_endpoint(
                    lambda: _Protocol(on_rtcp_port), local_addr=(host, port + 1)
                )
            except OSError:
                if rtp.transport is not None:
                    rtp.transport.close()
                continue
            return cls(rtp, rtcp, host, port)
        raise Conflict(
            f"no free UDP port pair for RTP in {ports.start}-{ports.stop - 1} on {host} (CALLBRIDGE_RTP_PORTS):"
            " close other RTP endpoints or widen the range"
        )

    def read_small(self) -> None:
        """Read datagrams with a small buffer (the lean path): see media/lean/demux.py."""
        for protocol in (self._rtp, self._rtcp):
            small_reads(protocol.transport)

    def send_rtp(self, data: bytes, to: Address) -> None:
        self._send(self._rtp, data, to)

    def send_rtcp(self, data: bytes, to: Address, muxed: bool) -> None:
        """RTCP goes out from the RTCP port, or from the RTP port to an app that multiplexes both (RFC 5761)."""
        self._send(self._rtp if muxed else self._rtcp, data, to)

    @staticmethod
    def _send(protocol: _Protocol, data: bytes, to: Address) -> None:
        if protocol.transport is not None and not protocol.transport.is_closing():
            try:
                protocol.transport.sendto(data, to)
            except OSError as exc:  # e.g. no route: the next packet tries again
                log.debug("RTP send to %s failed: %s", to, exc)

    def close(self) -> None:
        for protocol in (self._rtp, self._rtcp):
            if protocol.transport is not None:
                protocol.transport.close()
