"""A native RTP app attached to a call (an ffmpeg, a GStreamer pipeline, a PBX, a hardware phone): plain UDP, no
WebRTC. Opus passes through untouched both ways; G.711 is transcoded here, at the boundary; SRTP with SDES keys
when asked. It counts as connected from the start: the router routes it at once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

from aiortc.mediastreams import MediaStreamError

from callbridge.media.endpoint import CarriedEndpoint, Role
from callbridge.media.lean.demux import is_rtcp
from callbridge.media.lean.rtp_reader import read_rtp
from callbridge.media.lean.rtp_writer import RtpWriter
from callbridge.media.lean.selection import selected
from callbridge.media.opus import RATE
from callbridge.media.rtp_rtcp import REPORT_EVERY, RtcpState
from callbridge.media.rtp_sdp import PTIME_MS, SRTP_SUITE, Address, Codec, describe, format_address
from callbridge.media.rtp_socket import Latch, PortPair
from callbridge.media.rtp_transcode import G711Inbound, G711Outbound
from callbridge.media.srtp_keys import SRTP_ERRORS, Srtp, inline, new_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RtpOptions:
    codec: Codec
    host: str  # where the gateway binds (CALLBRIDGE_RTP_HOST)
    ports: range  # CALLBRIDGE_RTP_PORTS
    remote: Address | None = None  # where the app receives, if it says so
    srtp: bool = False
    idle_limit: float = 30.0  # CALLBRIDGE_RTP_IDLE


@dataclass(frozen=True)
class RtpDescription:
    """An endpoint as its app needs to know it (api/routes/rtp.py shows it in WaGo's form)."""

    endpoint_id: str
    local_address: str  # where the app sends
    codec: Codec
    ptime_ms: int
    sdp: str  # what the app receives
    srtp_suite: str | None
    srtp_key: str | None  # inline SDES key, when SRTP was asked for


class RtpEndpoint(CarriedEndpoint):
    kind = "rtp"

    def __init__(self, endpoint_id: str, role: Role, options: RtpOptions) -> None:
        g711 = options.codec.name != "opus"
        super().__init__(endpoint_id, role, G711Inbound(options.codec.name) if g711 else None)
        self.options = options
        self.codec = options.codec
        self.idle_limit = options.idle_limit
        self.latch = Latch(options.remote)
        self.key = new_key() if options.srtp else None
        self._srtp = Srtp(self.key) if self.key is not None else None
        self._g711_out = G711Outbound(self.codec.name) if g711 else None
        self.ssrc = secrets.randbits(32)
        self.rtcp = RtcpState(self.ssrc, self.codec.clock_rate, f"callbridge-{endpoint_id}")
        self._writer = RtpWriter(self.ssrc, self.codec.payload_type)  # our sequence numbers, timeline and marker
        self._rtcp_to: tuple[Address, bool] | None = None  # where the app's RTCP came from, and on which port
        self._ports: PortPair | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self.counts = {"received": 0, "sent": 0, "unsent": 0, "wrong_source": 0, "invalid": 0, "srtp_failed": 0}

    @classmethod
    async def open(cls, endpoint_id: str, role: Role, options: RtpOptions) -> RtpEndpoint:
        """Bind its ports and start sending; ``Conflict`` if the range has no free pair."""
        endpoint = cls(endpoint_id, role, options)
        endpoint._ports = await PortPair.bind(
            options.host,
            options.ports,
            lambda data, source: endpoint._datagram(data, source, rtcp_port=False),
            lambda data, source: endpoint._datagram(data, source, rtcp_port=True),
        )
        endpoint._tasks = [asyncio.create_task(endpoint._report_loop(), name=f"rtcp {endpoint_id}")]
        if selected() == "lean":
            endpoint._outgoing.attach(endpoint._send_frame)  # frames leave as they are pushed
            endpoint._ports.read_small()
        else:
            endpoint._tasks.append(asyncio.create_task(endpoint._send_loop(), name=f"rtp send {endpoint_id}"))
        return endpoint

    # ---- what the call sees ------------------------------------------------------------------------------------

    @property
    def state(self) -> str:
        return "closed" if self._closed else "connected"

    @property
    def local(self) -> Address:
        assert self._ports is not None
        return self._ports.host, self._ports.port

    def description(self) -> RtpDescription:
        """What the app needs: where to send, the codec, and the SDP of what it receives."""
        key = inline(self.key) if self.key is not None else None
        receives_at = self.options.remote or self.local
        return RtpDescription(
            endpoint_id=self.id,
            local_address=format_address(self.local),
            codec=self.codec,
            ptime_ms=PTIME_MS,
            sdp=describe(self.codec, receives_at, self.local[0], key),
            srtp_suite=SRTP_SUITE if key is not None else None,
            srtp_key=key,
        )

    def stats(self) -> dict[str, Any]:
        stats = super().stats()
        inbound = self._inbound
        stats["inbound"]["decoded"] += inbound.g711_decoded if isinstance(inbound, G711Inbound) else 0
        stats["inbound"]["encoded"] = inbound.encoded if isinstance(inbound, G711Inbound) else 0
        stats["outbound"]["decoded"] = self._g711_out.decoded if self._g711_out is not None else 0
        stats["rtp"] = {
            "codec": self.codec.name,
            "srtp": self.key is not None,
            "local": format_address(self.local) if self._ports is not None else None,
            "remote": format_address(self.latch.target) if self.latch.target is not None else None,
            "latched": not self.latch.fixed and self.latch.target is not None,
            **self.counts,
            "rtcp": self.rtcp.stats(),
        }
        return stats

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._ports is not None:
            self._ports.close()
        self._inbound.close()
        self._outgoing.stop()

    # ---- receiving ---------------------------------------------------------------------------------------------

    def _datagram(self, data: bytes, source: Address, rtcp_port: bool) -> None:
        if self._closed:
            return
        if is_rtcp(data):
            self._control(data, source, muxed=not rtcp_port)
        elif rtcp_port:
            self.counts["invalid"] += 1
        else:
            self._media(data, source)

    def _media(self, data: bytes, source: Address) -> None:
        if not self.latch.allows(source):
            self.counts["wrong_source"] += 1
            return
        if self._srtp is not None:
            try:
                data = self._srtp.unprotect(data)
            except SRTP_ERRORS:
                self.counts["srtp_failed"] += 1
                return
        try:
            payload_type, _, sequence_number, timestamp, ssrc, payload, _ = read_rtp(data, len(data), None)
        except ValueError:
            self.counts["invalid"] += 1
            return
        if payload_type != self.codec.payload_type or not payload:
            self.counts["invalid"] += 1
            return
        if self.latch.confirm(source):
            log.info("RTP endpoint %s latched to %s", self.id, format_address(source))
        self.counts["received"] += 1
        arrival = time.monotonic()
        self.rtcp.received(ssrc, sequence_number, timestamp, arrival)
        self._inbound.on_rtp(payload_type, sequence_number, timestamp, payload, None, arrival)

    def _control(self, data: bytes, source: Address, muxed: bool) -> None:
        if not self.latch.allows(source, rtcp=True):
            self.counts["wrong_source"] += 1
            return
        if self._srtp is not None:
            try:
                data = self._srtp.unprotect_rtcp(data)
            except SRTP_ERRORS:
                self.counts["srtp_failed"] += 1
                return
        try:
            self.rtcp.digest(data)
        except ValueError:
            self.counts["invalid"] += 1
            return
        self._rtcp_to = (source, muxed)
        self._inbound.heard()

    # ---- sending -----------------------------------------------------------------------------------------------

    async def _send_loop(self) -> None:
        """The aiortc-path way: await each frame of the outbound track."""
        while True:
            try:
                frame = await self._outgoing.recv()
            except MediaStreamError:
                return
            self._send_frame(bytes(frame), frame.pts or 0)

    def _send_frame(self, payload: bytes, pts: int) -> None:
        """One frame at ``pts`` on our 48 kHz timeline, to the app: from the send loop, or on the lean path
        straight from whoever pushed it (no task per frame)."""
        if self._g711_out is not None:
            payload = self._g711_out.convert(payload)
        target = self.latch.target
        if target is None or self._ports is None:
            self.counts["unsent"] += 1  # nobody to send to until the app's first packet
            return
        packet = self._writer.write(payload, pts // (RATE // self.codec.clock_rate))  # on the codec's clock
        if self._srtp is not None:
            packet = self._srtp.protect(packet)
        self._ports.send_rtp(packet, target)
        self.counts["sent"] += 1
        self.rtcp.sent_rtp(len(payload), self._writer.last_timestamp)

    async def _report_loop(self) -> None:
        while True:
            await asyncio.sleep(REPORT_EVERY)
            target = self.latch.target
            if target is None or self._ports is None:
                continue
            # RTCP to where the app's came from; else to the port above its RTP (RFC 3550), or muxed at 65535
            default = ((target[0], target[1] + 1), False) if target[1] < 65535 else (target, True)
            to, muxed = self._rtcp_to or default
            try:
                report = self.rtcp.report()
                if self._srtp is not None:
                    report = self._srtp.protect_rtcp(report)
                self._ports.send_rtcp(report, to, muxed)
            except Exception:
                log.exception("RTCP report for endpoint %s failed", self.id)
