"""Audio arriving on a leg, taken from aiortc's receiver as Opus frames instead of decoded PCM.

aiortc has no public API for undecoded media (aiortc #55, #449). The receiver hands every depayloaded RTP
packet to its jitter buffer; putting our own object in that slot gives us the packets (after aiortc's RTCP
statistics, so receiver reports stay right) and leaves aiortc's decoder idle.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from aiortc import RTCRtpReceiver
from aiortc.rtp import RtpPacket

from callbridge.media.dtmf import DtmfReceiver, KeyPress
from callbridge.media.jitter import JitterBuffer
from callbridge.media.opus import OpusDecoder, OpusFrame
from callbridge.media.quality import ArrivalJitter

log = logging.getLogger(__name__)

Sink = Callable[[OpusFrame], None]
Forward = Callable[[bytes, int, float], None]  # a frame passed on from its fields: payload, timestamp, arrival


class Lane(NamedTuple):
    """A sink that passes frames on as they are to one output, and the same done from a packet's fields."""

    sink: Sink  # one of the inbound's sinks: the lane is open while it is the only one
    forward: Forward


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

    def __init__(self, receiver: RTCRtpReceiver | None = None, loss_timeout: float = 0.02) -> None:
        """Taps ``receiver`` (an aiortc leg); without one, the owner feeds ``on_packet`` or ``deliver`` itself."""
        self.sinks: list[Sink] = []
        self.buffer = JitterBuffer(self._release, loss_timeout=loss_timeout)
        self.jitter = ArrivalJitter()  # interarrival jitter of RTP audio, sampled for the call's quality summary
        self.level: float | None = None  # latest level in dBov (0 loudest, -127 silent)
        self.decode_levels = False  # while someone watches: decode for levels if the sender sends none
        self.decoded = 0  # frames decoded here (levels only): 0 while the sender reports its own levels
        self._levels_in_header = False
        self._decoder: OpusDecoder | None = None
        self._unwrap_base = 0
        self._last_timestamp: int | None = None
        self.on_key: Callable[[KeyPress], None] | None = None  # key presses (RFC 4733), when someone listens
        self.lane: Lane | None = None  # see set_lane
        self.last_heard = 0.0  # monotonic time of the last RTP or RTCP packet from the peer
        self._receiver = receiver
        self._dtmf: dict[int, DtmfReceiver | None] = {}  # by payload type: a receiver for telephone events
        if receiver is not None:
            vars(receiver)["_RTCRtpReceiver__jitter_buffer"] = _ReceiverTap(self)  # aiortc's private slot

    def set_lane(self, lane: Lane | None) -> None:
        """The router's straight sink and its forward, or None: while that sink is the only one, in-order packets
        skip the frame, the release and the fan-out (see on_rtp); held and reordered ones go the generic way."""
        # Only where the frames released are the packets' payloads as they came: an inbound that releases frames of
        # its own making (G.711 made Opus, media/rtp_transcode.py) overrides _release and never takes the lane.
        self.lane = lane if type(self)._release is InboundAudio._release else None

    def heard(self) -> None:
        self.last_heard = time.monotonic()

    @property
    def _measuring(self) -> bool:
        """Whether released frames are decoded for their level: someone watches and the sender sends none."""
        return self.decode_levels and not self._levels_in_header

    def on_packet(self, packet: RtpPacket) -> None:
        """A depayloaded packet (aiortc's receiver, RTP endpoints): ``_data`` holds the payload as it is."""
        self.on_rtp(
            packet.payload_type,
            packet.sequence_number,
            packet.timestamp,
            vars(packet)["_data"],  # set by aiortc's depayloader (or the RTP endpoint)
            packet.extensions.audio_level,
            time.monotonic(),
        )

    def on_rtp(
        self,
        payload_type: int,
        sequence_number: int,
        timestamp: int,
        payload: bytes,
        level: tuple[bool, int] | None,
        arrival: float,
    ) -> None:
        """A packet's fields (the lean path reads them without building a packet), arrived at ``arrival``."""
        self.last_heard = arrival
        try:
            dtmf = self._dtmf[payload_type]
        except KeyError:
            dtmf = self._dtmf[payload_type] = self._dtmf_receiver(payload_type)
        if dtmf is not None:
            # Telephone events share the audio's sequence numbers: they are consumed here, never forwarded.
            self.buffer.skip(sequence_number)
            dtmf.on_packet(timestamp, payload)
            return
        if level is not None:  # RFC 6464, free when the sender adds it (browsers and aiortc do)
            self.level = -float(level[1])
            self._levels_in_header = True
        last = self._last_timestamp
        if last is not None and timestamp < last - 0x80000000:
            self._unwrap_base += 1 << 32
        self._last_timestamp = timestamp
        unwrapped = self._unwrap_base + timestamp
        self.jitter.arrived(arrival, unwrapped)
        lane, sinks = self.lane, self.sinks
        if (
            lane is not None
            and len(sinks) == 1
            and sinks[0] is lane.sink
            and not self._measuring  # _release would measure the frame
            and self.buffer.take_if_next(sequence_number)
        ):
            try:
                lane.forward(payload, unwrapped, arrival)
            except Exception:
                log.exception("audio sink failed; removing it")
                sinks.remove(lane.sink)
            return
        self.buffer.add(sequence_number, OpusFrame(unwrapped, payload))

    def _dtmf_receiver(self, payload_type: int) -> DtmfReceiver | None:
        if self._receiver is None:
            return None
        codec = vars(self._receiver)["_RTCRtpReceiver__codecs"].get(payload_type)  # what was negotiated
        if codec is None or codec.mimeType.lower() != "audio/telephone-event":
            return None
        return DtmfReceiver(self._key_pressed, clock_rate=codec.clockRate)

    def _key_pressed(self, key: KeyPress) -> None:
        if self.on_key is not None:
            self.on_key(key)

    def deliver(self, frame: OpusFrame) -> None:
        """A frame already in order and on time (an endpoint that paces its own audio): straight to the sinks."""
        self.last_heard = time.monotonic()
        self._release(frame)

    def _release(self, frame: OpusFrame) -> None:
        if self._measuring:
            self._measure(frame)
        for sink in list(self.sinks):
            try:
                sink(frame)
            except Exception:
                log.exception("audio sink failed; removing it")
                self.sinks.remove(sink)

    def _measure(self, frame: OpusFrame) -> None:
        if self._decoder is None:
            self._decoder = OpusDecoder()
        pcm = self._decoder.decode(frame.payload).astype(np.float32)
        self.decoded += 1
        rms = math.sqrt(float(np.dot(pcm, pcm)) / max(1, pcm.size)) / 32767.0
        self.level = max(-127.0, 20 * math.log10(rms)) if rms > 0 else -127.0

    def close(self) -> None:
        self.buffer.close()
        self.sinks.clear()
        self.lane = None
        for dtmf in self._dtmf.values():
            if dtmf is not None:
                dtmf.close()
