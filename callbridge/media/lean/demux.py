"""Telling apart what arrives on one ICE socket (RFC 7983, RFC 5761), and taking the SRTP share of it.

STUN (first byte 0-3) stays with aioice (consent freshness), DTLS (20-63) with aiortc (alerts, close); SRTP and
SRTCP (128-191) go to the lean path, which tells RTCP from RTP by the packet type in the second byte (192-223).
Taking them at the socket spares each packet aioice's STUN parse attempt, its queue, and aiortc's reader task.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

STUN, DTLS, RTP, RTCP, OTHER = "stun", "dtls", "rtp", "rtcp", "other"

Address = tuple[Any, ...]
Handler = Callable[[bytes, Address], None]

READ_SIZE = 4096  # bytes read per datagram: media and DTLS flights are under 1500, TURN adds a few dozen
_ASYNCIO_READ_SIZE = 256 * 1024


def small_reads(transport: Any) -> None:
    """Stock asyncio reads every datagram with a 256 KiB ``recvfrom`` (~9 us instead of ~1 us, and the next send
    is slower too: shared/reference/aiortc-media.md, "The forwarding floor"); uvloop's transports are unaffected."""
    if getattr(transport, "max_size", None) == _ASYNCIO_READ_SIZE:
        transport.max_size = READ_SIZE


def is_rtcp(data: bytes) -> bool:
    """RTCP and RTP on one port are told apart by the second byte (RFC 5761): RTCP's packet types are 192-223.
    (aiortc's own ``is_rtcp`` stops at 208.)"""
    return len(data) >= 2 and 192 <= data[1] <= 223


def classify(data: bytes) -> str:
    if not data:
        return OTHER
    first = data[0]
    if first < 4:
        return STUN
    if 19 < first < 64:
        return DTLS
    if 127 < first < 192:
        return RTCP if is_rtcp(data) else RTP
    return OTHER  # ZRTP (16-19), TURN channels (64-79) and anything else: left to aioice


class SocketTap:
    """Puts ``handler`` in front of the ``datagram_received`` of aioice's protocols (one per local candidate;
    a TURN relay's protocol gets what the relay unwraps): SRTP goes to ``handler``, the rest where it went."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self._tapped: list[Any] = []

    def tap(self, protocol: Any) -> None:
        if protocol in self._tapped:
            return
        original = protocol.datagram_received
        handler = self.handler

        def datagram_received(data: bytes, addr: Address) -> None:
            if data and 127 < data[0] < 192:
                handler(data, addr)
            else:
                original(data, addr)

        protocol.datagram_received = datagram_received  # an instance attribute: transports look it up per call
        small_reads(getattr(protocol, "transport", None))
        self._tapped.append(protocol)

    def untap(self) -> None:
        for protocol in self._tapped:
            vars(protocol).pop("datagram_received", None)
        self._tapped.clear()
