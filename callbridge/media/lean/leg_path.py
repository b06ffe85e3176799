"""One WebRTC leg's packets on the lean path, once its DTLS is up.

aiortc's peer connection calls ``sender.send`` and ``receiver.receive`` when DTLS has connected; here those two
start this path instead of aiortc's tasks. From then on SRTP datagrams are taken at the ICE socket
(lean/demux.py), unprotected with the SRTP session aiortc keyed from the DTLS handshake, and handed to the leg's
inbound (jitter buffer, router) in the same call; what the leg sends is written, protected and sent in the call
that pushes it (media/outbound.py). RTCP: our sender and receiver reports (media/rtp_rtcp.py) every 0.5-1.5 s,
as aiortc sends them, and the peer's reports read for /call/stats.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any, Protocol

import pylibsrtp
from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.rtcrtpparameters import RTCRtpReceiveParameters, RTCRtpSendParameters
from aiortc.rtp import RtcpByePacket

from callbridge.media.lean.demux import SocketTap, is_rtcp
from callbridge.media.lean.rtp_reader import AudioLevel, read_rtp
from callbridge.media.lean.rtp_writer import RtpWriter, one_byte_extensions
from callbridge.media.lean.srtp import InPlaceSrtp
from callbridge.media.outbound import Send
from callbridge.media.rtp_rtcp import RtcpState

log = logging.getLogger(__name__)

MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"


class Inlet(Protocol):
    """Where a leg's received packets go: a leg's inbound (media/inbound.py), or a benchmark's marker listener."""

    def on_rtp(
        self,
        payload_type: int,
        sequence_number: int,
        timestamp: int,
        payload: bytes,
        level: AudioLevel | None,
        arrival: float,
    ) -> None: ...

    def heard(self) -> None: ...


class Outlet(Protocol):
    """What a leg sends: given the function that sends a frame at once once DTLS is up, taken back on closing."""

    def attach(self, send: Send) -> None: ...

    def detach(self) -> None: ...


class LeanLegPath:
    def __init__(self, inbound: Inlet, outbound: Outlet) -> None:
        self.inbound = inbound
        self.outbound = outbound
        self.counts = {"received": 0, "sent": 0, "srtp_failed": 0, "invalid": 0, "rtcp_received": 0}
        self.rtcp: RtcpState | None = None
        self._tap = SocketTap(self._datagram)
        self._rx: InPlaceSrtp | None = None
        self._tx: InPlaceSrtp | None = None
        self._transport: Any = None
        self._remote: Any = None
        self._dtls: Any = None
        self._writer: RtpWriter | None = None
        self._payload_types: frozenset[int] = frozenset()
        self._audio_level_id: int | None = None  # the negotiated id of the RFC 6464 level the peer sends
        self._report_timer: asyncio.TimerHandle | None = None
        self._closed = False

    def install(self, sender: RTCRtpSender, receiver: RTCRtpReceiver) -> None:
        """Stand in for aiortc's sender and receiver: they are never started."""
        path = self

        async def send(parameters: RTCRtpSendParameters) -> None:
            path.sending(sender, parameters)

        async def receive(parameters: RTCRtpReceiveParameters) -> None:
            vars(receiver)["_RTCRtpReceiver__codecs"].update({c.payloadType: c for c in parameters.codecs})
            path.receiving(receiver, parameters)

        sender.send = send  # type: ignore[method-assign]  # replacing aiortc's method on this instance
        receiver.receive = receive  # type: ignore[method-assign]  # likewise

    # ---- starting --------------------------------------------------------------------------------------------

    def _start(self, dtls: Any, ssrc: int, cname: str, clock_rate: int) -> None:
        """Take the SRTP sessions and the ICE pair (DTLS has connected: aiortc calls send/receive only then)."""
        if self._dtls is not None or self._closed:
            return
        connection = dtls.transport._connection
        pair = connection._nominated.get(1)
        if pair is None or dtls._rx_srtp is None:
            log.warning("lean path not started: no selected ICE pair or no SRTP keys")
            return
        self._dtls = dtls
        # The selected pair's socket and peer do not change once ICE has completed (aioice nominates once).
        self._transport, self._remote = pair.protocol.transport, pair.remote_addr
        self._rx, self._tx = InPlaceSrtp(dtls._rx_srtp), InPlaceSrtp(dtls._tx_srtp)
        self.rtcp = RtcpState(ssrc, clock_rate, cname)
        for protocol in connection._protocols:
            self._tap.tap(protocol)
        dtls.on("statechange", self._dtls_state)
        self._schedule_report()

    def sending(self, sender: RTCRtpSender, parameters: RTCRtpSendParameters) -> None:
        if self._writer is not None:
            return  # a renegotiation: the stream goes on as it was
        codec = parameters.codecs[0]
        self._start(sender.transport, sender._ssrc, parameters.rtcp.cname or "callbridge", codec.clockRate)
        if self._dtls is None:
            return
        elements = []
        for ext in parameters.headerExtensions:
            if ext.uri == MID_URI and parameters.muxId:
                elements.append((ext.id, parameters.muxId.encode()))
        assert codec.payloadType is not None  # aiortc numbers every negotiated codec
        self._writer = RtpWriter(sender._ssrc, codec.payloadType, one_byte_extensions(elements))
        self.outbound.attach(self._send_frame)

    def receiving(self, receiver: RTCRtpReceiver, parameters: RTCRtpReceiveParameters) -> None:
        self._payload_types = frozenset(c.payloadType for c in parameters.codecs if c.payloadType is not None)
        self._audio_level_id = next((e.id for e in parameters.headerExtensions if e.uri == AUDIO_LEVEL_URI), None)
        if self._dtls is None:
            clock_rate = parameters.codecs[0].clockRate if parameters.codecs else 48000
            self._start(receiver.transport, random.getrandbits(32), parameters.rtcp.cname or "callbridge", clock_rate)

    # ---- receiving -------------------------------------------------------------------------------------------

    def _datagram(self, data: bytes, addr: Any) -> None:
        rx = self._rx
        if rx is None or self._closed:
            return
        try:
            if is_rtcp(data):
                self._control(rx.session.unprotect_rtcp(data))
                return
            size = rx.unprotect(data)
        except (pylibsrtp.Error, ValueError):
            self.counts["srtp_failed"] += 1
            return
        try:
            payload_type, _, sequence_number, timestamp, ssrc, payload, level = read_rtp(
                rx.view, size, self._audio_level_id
            )
        except ValueError:
            self.counts["invalid"] += 1
            return
        if payload_type not in self._payload_types:
            self.counts["invalid"] += 1
            return
        self.counts["received"] += 1
        arrival = time.monotonic()
        assert self.rtcp is not None  # made with the SRTP sessions
        self.rtcp.received(ssrc, sequence_number, timestamp, arrival)
        self.inbound.on_rtp(payload_type, sequence_number, timestamp, payload, level, arrival)

    def _control(self, data: bytes) -> None:
        assert self.rtcp is not None
        try:
            self.rtcp.digest(data)
        except ValueError:
            self.counts["invalid"] += 1
            return
        self.counts["rtcp_received"] += 1
        self.inbound.heard()

    # ---- sending ---------------------------------------------------------------------------------------------

    def _send_frame(self, payload: bytes, pts: int) -> None:
        writer, tx = self._writer, self._tx
        if writer is None or tx is None or self._closed:
            return
        size = tx.protect(writer.write_into(tx.view, payload, pts))
        self._sendto(tx.view[:size].tobytes())  # a copy: a transport that must queue it keeps what it got
        self.counts["sent"] += 1
        assert self.rtcp is not None
        self.rtcp.sent_rtp(len(payload), writer.last_timestamp)

    def _sendto(self, data: bytes) -> None:
        try:
            self._transport.sendto(data, self._remote)
        except (OSError, AttributeError) as exc:  # closing, or no route: the next packet tries again
            log.debug("lean send failed: %s", exc)

    def _schedule_report(self) -> None:
        loop = asyncio.get_running_loop()
        self._report_timer = loop.call_later(0.5 + random.random(), self._report)  # as aiortc spaces them

    def _report(self) -> None:
        if self._closed or self.rtcp is None or self._tx is None:
            return
        try:
            self._sendto(self._tx.session.protect_rtcp(self.rtcp.report()))
        except Exception:
            log.exception("RTCP report failed")
        self._schedule_report()

    # ---- ending ----------------------------------------------------------------------------------------------

    def _dtls_state(self) -> None:
        if self._dtls is not None and self._dtls.state in ("closed", "failed"):
            self.close(bye=False)

    def close(self, bye: bool = True) -> None:
        if self._closed:
            return
        if bye and self.rtcp is not None and self._tx is not None and self._dtls.state == "connected":
            try:
                self._sendto(self._tx.session.protect_rtcp(bytes(RtcpByePacket(sources=[self.rtcp.ssrc]))))
            except Exception:
                log.debug("RTCP BYE not sent", exc_info=True)
        self._closed = True
        if self._report_timer is not None:
            self._report_timer.cancel()
        self.outbound.detach()
        self._tap.untap()
        self._rx = self._tx = None

    def stats(self) -> dict[str, Any]:
        return {**self.counts, "rtcp": self.rtcp.stats() if self.rtcp is not None else None}
