"""What a leg sends: forwarded Opus frames from the other leg, audio the gateway makes (files, mixes),
or silence, on one continuous timeline.

The track always hands aiortc encoded packets, so aiortc never encodes and every RTP timestamp is ours:
forwarded frames keep their spacing (a lost frame stays a gap the receiver conceals), and switching between
sources, or between browsers, never makes time jump backwards.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Protocol

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from callbridge.media.opus import FRAME_SAMPLES, RATE, SILENCE, TIME_BASE, OpusEncoder, OpusFrame

FRAME_SECONDS = FRAME_SAMPLES / RATE
IDLE_AFTER = 0.06  # seconds without a forwarded frame before silence fills in
MAX_QUEUE = 25  # forwarded frames waiting at most (500 ms); older ones are dropped
MAX_JUMP = RATE  # a forwarded timestamp jumping more than 1 s starts a new run


class PcmSource(Protocol):
    """Audio the gateway makes, 20 ms at a time (a playlist, possibly mixed with a voice)."""

    def read(self) -> np.ndarray | None:
        """The next 960 samples of 48 kHz mono int16, or None when there is nothing more to say."""

    def hear(self, frame: OpusFrame) -> None:
        """A forwarded frame that arrived while this source speaks (to mix in, or to drop)."""


class OutboundAudio(MediaStreamTrack):
    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.source: PcmSource | None = None
        self._frames: deque[OpusFrame] = deque()
        self._arrived = asyncio.Event()
        self._encoder: OpusEncoder | None = None
        self._clock0: float | None = None
        self._due = 0.0  # when a paced frame (silence, made audio) is next due
        self._next_pts = 0  # timestamp of the next frame if it follows on
        self._offset: int | None = None  # out timestamp minus source timestamp, for the current forwarded run
        self._last_source_ts: int | None = None
        self.counts = {"forwarded": 0, "encoded": 0, "silence": 0, "dropped": 0}

    def push(self, frame: OpusFrame) -> None:
        """A frame from the other leg, to send as it is (or to the source that is speaking)."""
        if self.source is not None:
            self.source.hear(frame)
            return
        if len(self._frames) >= MAX_QUEUE:
            self._frames.popleft()
            self.counts["dropped"] += 1
        self._frames.append(frame)
        self._arrived.set()

    def speak(self, source: PcmSource | None) -> None:
        """Send made audio from ``source`` (paced at 20 ms) until it runs out; None goes back to forwarding."""
        self.source = source
        self._frames.clear()
        self._offset = None

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._clock0 is None:
            self._clock0 = self._due = now
        while True:
            if self.source is not None:
                pcm = self.source.read()
                if pcm is not None:
                    await self._pace()
                    self.counts["encoded"] += 1
                    return self._paced(self._encode(pcm))
                self.source = None
                self._offset = None
            if self._frames:
                return self._forward(self._frames.popleft())
            wait = self._due - time.monotonic()
            if wait <= 0:
                self.counts["silence"] += 1
                return self._paced(SILENCE)
            self._arrived.clear()
            try:
                async with asyncio.timeout(min(wait, FRAME_SECONDS)):
                    await self._arrived.wait()
            except TimeoutError:
                pass

    def _forward(self, frame: OpusFrame) -> av.Packet:
        last = self._last_source_ts
        if self._offset is None or last is None or not 0 < frame.timestamp - last <= MAX_JUMP:
            self._offset = max(self._next_pts, self._wall_pts()) - frame.timestamp  # a new run follows on
        self._last_source_ts = frame.timestamp
        pts = frame.timestamp + self._offset
        self._due = time.monotonic() + IDLE_AFTER
        self.counts["forwarded"] += 1
        return self._packet(frame.payload, pts)

    def _paced(self, payload: bytes) -> av.Packet:
        pts = max(self._next_pts, self._wall_pts())  # after a pause, time moves on: the receiver sees a gap
        self._due = max(self._due + FRAME_SECONDS, time.monotonic() - 0.1)
        self._offset = None  # forwarding that resumes starts a new run
        return self._packet(payload, pts)

    def _packet(self, payload: bytes, pts: int) -> av.Packet:
        self._next_pts = pts + FRAME_SAMPLES
        packet = av.Packet(payload)
        packet.pts = pts
        packet.time_base = TIME_BASE
        return packet

    def _wall_pts(self) -> int:
        assert self._clock0 is not None
        return int((time.monotonic() - self._clock0) * RATE) // FRAME_SAMPLES * FRAME_SAMPLES

    async def _pace(self) -> None:
        wait = self._due - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)

    def _encode(self, pcm: np.ndarray) -> bytes:
        if self._encoder is None:
            self._encoder = OpusEncoder()
        return self._encoder.encode(pcm)
