"""Audio arriving on a leg, taken from aiortc's receiver as Opus frames instead of decoded PCM.

aiortc has no public API for undecoded media (aiortc #55, #449). The receiver hands every depayloaded RTP
packet to its jitter buffer; putting our own object in that slot gives us the packets (after aiortc's RTCP
statistics, so receiver reports stay right) and leaves aiortc's decoder idle.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiortc import RTCRtpReceiver
from aiortc.rtp import RtpPacket

from callbridge.media.jitter import JitterBuffer
from callbridge.media.opus import OpusFrame

log = logging.getLogger(__name__)

Sink = Callable[[OpusFrame], None]


class _ReceiverTap:
    """Stands where aiortc keeps its audio jitter buffer; aiortc only ever calls ``add``."""

    capacity = 16

    def __init__(self, inbound: InboundAudio) -> None:
        self.inbound = inbound

    def add(self, packet: RtpPacket) -> tuple[bool, None]:
        self.inbound.on_packet(packet)
        return False, None


class InboundAudio:
    """Ordered Opus frames from one receiver, fanned out to sinks (the bridge, recorders, mixers)."""

    def __init__(self, receiver: RTCRtpReceiver, loss_timeout: float = 0.02) -> None:
        self.sinks: list[Sink] = []
        self.buffer = JitterBuffer(self._release, loss_timeout=loss_timeout)
        self.audio_level: int | None = None  # dBov from the RFC 6464 header extension, when the sender adds it
        self._unwrap_base = 0
        self._last_timestamp: int | None = None
        receiver._RTCRtpReceiver__jitter_buffer = _ReceiverTap(self)  # type: ignore[attr-defined]

    def on_packet(self, packet: RtpPacket) -> None:
        level = packet.extensions.audio_level
        if level is not None:
            self.audio_level = -level[1]
        frame = OpusFrame(self._unwrap(packet.timestamp), packet._data)  # type: ignore[attr-defined]
        self.buffer.add(packet.sequence_number, frame)

    def _unwrap(self, timestamp: int) -> int:
        if self._last_timestamp is not None and timestamp < self._last_timestamp - 0x80000000:
            self._unwrap_base += 1 << 32
        self._last_timestamp = timestamp
        return self._unwrap_base + timestamp

    def _release(self, frame: OpusFrame) -> None:
        for sink in list(self.sinks):
            try:
                sink(frame)
            except Exception:
                log.exception("audio sink failed; removing it")
                self.sinks.remove(sink)

    def close(self) -> None:
        self.buffer.close()
        self.sinks.clear()
