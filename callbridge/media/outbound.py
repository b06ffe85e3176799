"""What a leg sends: Opus frames pushed to it (passed through from another leg, or a mix the call's router
made and paced), or silence, on one continuous timeline.

The track always hands aiortc encoded packets, so aiortc never encodes and every RTP timestamp is ours:
forwarded frames keep their spacing (a lost frame stays a gap the receiver conceals), and switching between
sources (another talker, a mix, a new browser) never makes time jump backwards.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from callbridge.media.opus import FRAME_SAMPLES, RATE, SILENCE, TIME_BASE, OpusFrame

FRAME_SECONDS = FRAME_SAMPLES / RATE
IDLE_AFTER = 0.06  # seconds without a forwarded frame before silence fills in
MAX_QUEUE = 25  # forwarded frames waiting at most (500 ms); older ones are dropped
MAX_JUMP = RATE  # a forwarded timestamp jumping more than 1 s starts a new run


class OutboundAudio(MediaStreamTrack):
    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._frames: deque[OpusFrame] = deque()
        self._arrived = asyncio.Event()
        self._clock0: float | None = None
        self._due = 0.0  # when a paced frame (silence, made audio) is next due
        self._next_pts = 0  # timestamp of the next frame if it follows on
        self._offset: int | None = None  # out timestamp minus source timestamp, for the current forwarded run
        self._last_source_ts: int | None = None
        self.counts = {"forwarded": 0, "encoded": 0, "silence": 0, "dropped": 0}

    def push(self, frame: OpusFrame, mixed: bool = False) -> None:
        """A frame to send as it is: passed through from another leg, or ``mixed`` (encoded by the router)."""
        if len(self._frames) >= MAX_QUEUE:
            self._frames.popleft()
            self.counts["dropped"] += 1
        self._frames.append(frame)
        self.counts["encoded" if mixed else "forwarded"] += 1
        self._arrived.set()

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._clock0 is None:
            self._clock0 = self._due = now
        while True:
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
