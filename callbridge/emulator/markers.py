"""Timing audio for benchmarks: a tone with a short marker burst twice a second, sent pre-encoded, and a
listener that timestamps markers as packets arrive (before any jitter buffer), so that the delay measured
between a sender and a receiver is the network plus whatever sits between them.

Sending costs no encoding (the loop is encoded once, per process) and listening no decoding for frames passed
through untouched (the listener knows the loop it expects) and one Opus decode for any other, so a load generator
stays cheaper than the gateway it loads.
"""

from __future__ import annotations

import asyncio
import fractions
import functools
import math
import time
from collections.abc import Callable
from typing import Literal, Protocol

import av
import numpy as np
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpReceiver
from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import RtpPacket

RATE = 48000
FRAME = 960
PERIOD_FRAMES = 25  # a marker every 0.5 s
TIME_BASE = fractions.Fraction(1, RATE)
ON_TIME = 0.06  # a frame later than this behind its schedule would miss a real jitter buffer


def _codec(mode: Literal["r", "w"]) -> av.AudioCodecContext:
    codec = av.CodecContext.create("libopus", mode)
    codec.sample_rate, codec.format, codec.layout = RATE, "s16", "mono"
    if mode == "w":
        codec.bit_rate = 32000
        codec.options = {"application": "voip"}
        codec.time_base = TIME_BASE
    return codec


def encoded_loop(marker_hz: float, tone_hz: float = 440.0) -> list[bytes]:
    """0.5 s of a quiet tone whose first 20 ms frame carries a loud burst at ``marker_hz``, as Opus packets."""
    return list(_encoded_loop(marker_hz, tone_hz))


@functools.cache  # a load generator's peers share a handful of loops
def _encoded_loop(marker_hz: float, tone_hz: float) -> tuple[bytes, ...]:
    t = np.arange(FRAME * PERIOD_FRAMES) / RATE
    pcm = np.sin(2 * math.pi * tone_hz * t) * 0.05
    pcm[:FRAME] += np.sin(2 * math.pi * marker_hz * t[:FRAME]) * 0.6
    samples = (pcm * 32767).astype(np.int16)
    codec = _codec("w")
    packets: list[bytes] = []
    # Two rounds, keeping the second: the encoder has settled, and the loop joins without a seam.
    for round_ in range(2):
        for i in range(PERIOD_FRAMES):
            frame = av.AudioFrame.from_ndarray(samples[i * FRAME : (i + 1) * FRAME].reshape(1, -1), "s16", "mono")
            frame.sample_rate, frame.pts = RATE, (round_ * PERIOD_FRAMES + i) * FRAME
            out = codec.encode(frame)
            if round_ == 1:
                packets.append(bytes(out[0]))
    return tuple(packets)


class MarkerTrack(MediaStreamTrack):
    """Sends the loop at 20 ms pace; remembers when each marker frame left."""

    kind = "audio"

    def __init__(self, marker_hz: float) -> None:
        super().__init__()
        self.packets = encoded_loop(marker_hz)
        self.sent: list[float] = []
        self.frames = 0
        self._start: float | None = None

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        else:
            delay = self._start + self.frames * FRAME / RATE - now
            if delay > 0:
                await asyncio.sleep(delay)
        index = self.frames % PERIOD_FRAMES
        packet = av.Packet(self.packets[index])
        packet.pts, packet.time_base = self.frames * FRAME, TIME_BASE
        self.frames += 1
        if index == 0:
            self.sent.append(time.monotonic())
        return packet


class MarkerTap:
    """Stands in a receiver's jitter-buffer slot: sees each packet on arrival, decodes it, spots markers. Without
    a receiver, its owner hands it each frame itself (``heard``)."""

    capacity = 16

    def __init__(self, receiver: RTCRtpReceiver | None, marker_hz: float) -> None:
        self.received: list[float] = []  # arrival times of marker onsets
        self.arrivals: list[float] = []  # of every frame
        self.late: list[float] = []  # arrival times of frames more than ON_TIME behind schedule
        self.last_at: float | None = None
        self._decoder = _codec("r")
        self._probe = np.exp(-2j * math.pi * marker_hz * np.arange(FRAME) / RATE)
        self._in_marker = False
        # The sender's own loop, as it leaves it (libopus encodes the same samples the same way): a frame passed
        # through untouched is known without decoding it. Anything else (a mix, a transcoded frame) is decoded.
        self._known = {packet: i == 0 for i, packet in enumerate(_encoded_loop(marker_hz, 440.0))}
        self._origin: tuple[float, int] | None = None  # (arrival, RTP timestamp) of the earliest-running frame
        if receiver is not None:
            vars(receiver)["_RTCRtpReceiver__jitter_buffer"] = self  # aiortc's private slot: it only calls ``add``

    def add(self, packet: RtpPacket) -> tuple[bool, None]:
        """aiortc's call, as to its jitter buffer: a packet with its depayloaded frame in ``_data``."""
        self.heard(packet.timestamp, vars(packet)["_data"])
        return False, None

    def heard(self, timestamp: int, frame: bytes) -> None:
        """One Opus frame, as it arrives."""
        now = time.monotonic()
        self.arrivals.append(now)
        self.last_at = now
        self._check_schedule(now, timestamp)
        known = self._known.get(frame)
        if known is not None:
            self._mark(now, known)
            return
        try:
            frames = self._decoder.decode(av.Packet(frame))
        except av.FFmpegError:
            return
        if frames:
            pcm = frames[0].to_ndarray().reshape(-1)[:FRAME].astype(np.float64) / 32768
            if len(pcm) == FRAME:
                marker = abs(np.dot(pcm, self._probe)) / FRAME  # amplitude/2 of the marker tone
                self._mark(now, marker > 0.06)

    def _mark(self, now: float, loud: bool) -> None:
        if loud and not self._in_marker:
            self.received.append(now)
        self._in_marker = loud

    def report(self) -> dict[str, object]:
        return {"received": self.received, "arrivals": self.arrivals, "late": self.late}

    def _check_schedule(self, now: float, timestamp: int) -> None:
        """On time: no later than ON_TIME behind the earliest-arriving schedule seen so far."""
        if self._origin is None:
            self._origin = (now, timestamp)
        expected = self._origin[0] + ((timestamp - self._origin[1]) & 0xFFFFFFFF) / RATE
        if expected > now:  # this frame came faster than any before: a new, earlier schedule
            self._origin = (now, timestamp)
            expected = now
        if now - expected > ON_TIME:
            self.late.append(now)


class MarkerMedia(Protocol):
    """A peer's marker audio: the loop out, markers timed in. Made before the peer connection connects."""

    tap: MarkerTap

    def report(self) -> dict[str, object]:
        """When this side's markers left (``sent``) and what arrived (:meth:`MarkerTap.report`)."""
        ...

    def close(self) -> None: ...


# How a peer's marker media is made: (peer connection, marker it sends, marker it listens for, share of its RTP
# to lose that does not pass through aiortc's sender).
MarkerMediaFactory = Callable[[RTCPeerConnection, float, float, Callable[[], float]], MarkerMedia]


class TrackMarkers:
    """Marker media on aiortc's own sender and receiver: a :class:`MarkerTrack` out, a :class:`MarkerTap` in the
    receiver's jitter-buffer slot. (Loss is the peer's to apply on aiortc's send path.)"""

    def __init__(
        self, pc: RTCPeerConnection, send_hz: float, listen_hz: float, loss: Callable[[], float] = lambda: 0.0
    ) -> None:
        self.track = MarkerTrack(send_hz)
        transceiver = pc.addTransceiver(self.track, direction="sendrecv")
        self.tap = MarkerTap(transceiver.receiver, listen_hz)

    def report(self) -> dict[str, object]:
        return {"sent": self.track.sent, "frames_sent": self.track.frames, **self.tap.report()}

    def close(self) -> None:
        self.track.stop()


def count_between(times: list[float], window: tuple[float, float]) -> int:
    return sum(1 for t in times if window[0] <= t <= window[1])


def latencies(sent: list[float], received: list[float], window: tuple[float, float]) -> list[float]:
    """Pair each marker sent inside ``window`` with the first detection after it (within 0.4 s), in seconds."""
    out = []
    j = 0
    for s in sent:
        if not window[0] <= s <= window[1]:
            continue
        while j < len(received) and received[j] < s:
            j += 1
        if j < len(received) and received[j] - s < 0.4:
            out.append(received[j] - s)
    return out
