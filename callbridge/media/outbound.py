"""What a leg sends: Opus frames pushed to it (passed through from another leg, or a mix the call's router
made and paced), or silence, on one continuous timeline.

The track always hands aiortc encoded packets, so aiortc never encodes and every RTP timestamp is ours:
forwarded frames keep their spacing (a lost frame stays a gap the receiver conceals), and switching between
sources (another talker, a mix, a new browser) never makes time jump backwards.

Two ways out: aiortc's sender (or an endpoint's send loop) awaits ``recv`` once per frame, or, on the lean path,
``attach`` gives it a function that sends a frame at once: forwarded and mixed frames go out as they are pushed,
and silence on the loop's shared 20 ms clock (media/lean/pacer.py).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from callbridge.media.lean.pacer import SilencePacer, pacer
from callbridge.media.opus import FRAME_SAMPLES, RATE, SILENCE, TIME_BASE, OpusFrame

Send = Callable[[bytes, int], None]  # an Opus payload and its timestamp on the leg's timeline (48 kHz)

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
        self._send: Send | None = None
        self._pacer: SilencePacer | None = None

    def attach(self, send: Send) -> None:
        """From now on send each frame at once through ``send`` (the lean path), silence on the shared clock;
        frames queued until now go first, as aiortc's sender would have sent them on starting."""
        self._send = send
        if self._clock0 is None:
            self._clock0 = self._due = time.monotonic()
        while self._frames:
            frame = self._frames.popleft()
            send(frame.payload, self._forward_pts(frame.timestamp, time.monotonic()))
        self._pacer = pacer()
        self._pacer.add(self)

    def detach(self) -> None:
        self._send = None
        if self._pacer is not None:
            self._pacer.discard(self)  # its loop's, wherever this is called from
            self._pacer = None

    def stop(self) -> None:
        self.detach()
        super().stop()

    def idle(self, now: float) -> None:
        """The shared clock's tick: silence for every frame time due and not filled by forwarding."""
        send = self._send
        while send is not None and self._due <= now:
            self.counts["silence"] += 1
            send(SILENCE, self._paced_pts())

    def push(self, frame: OpusFrame, mixed: bool = False) -> None:
        """A frame to send as it is: passed through from another leg, or ``mixed`` (encoded by the router)."""
        if self._send is not None:
            if not mixed:
                self.forward(frame.payload, frame.timestamp, time.monotonic())
                return
            self.counts["encoded"] += 1
            self._send(frame.payload, self._forward_pts(frame.timestamp, time.monotonic()))
            return
        if len(self._frames) >= MAX_QUEUE:
            self._frames.popleft()
            self.counts["dropped"] += 1
        self._frames.append(frame)
        self.counts["encoded" if mixed else "forwarded"] += 1
        self._arrived.set()

    def forward(self, payload: bytes, timestamp: int, arrival: float) -> None:
        """``push`` of a frame passed through, from its fields (an inbound's passthrough lane): once attached, sent
        with no frame made, and ``arrival`` (when its packet came, a moment ago) stands for the time now."""
        send = self._send
        if send is None:
            self.push(OpusFrame(timestamp, payload))
            return
        self.counts["forwarded"] += 1
        send(payload, self._forward_pts(timestamp, arrival))

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
        return self._packet(frame.payload, self._forward_pts(frame.timestamp, time.monotonic()))

    def _forward_pts(self, timestamp: int, now: float) -> int:
        """A forwarded frame's place on the leg's timeline, its source's ``timestamp`` given; sent at ``now``."""
        offset, last = self._offset, self._last_source_ts
        if offset is None or last is None or not 0 < timestamp - last <= MAX_JUMP:
            offset = self._offset = max(self._next_pts, self._wall_pts()) - timestamp  # a new run follows on
        self._last_source_ts = timestamp
        pts = timestamp + offset
        self._due = now + IDLE_AFTER
        self._next_pts = pts + FRAME_SAMPLES
        return pts

    def _paced(self, payload: bytes) -> av.Packet:
        return self._packet(payload, self._paced_pts())

    def _paced_pts(self) -> int:
        pts = max(self._next_pts, self._wall_pts())  # after a pause, time moves on: the receiver sees a gap
        self._due = max(self._due + FRAME_SECONDS, time.monotonic() - 0.1)
        self._offset = None  # forwarding that resumes starts a new run
        self._next_pts = pts + FRAME_SAMPLES
        return pts

    def _packet(self, payload: bytes, pts: int) -> av.Packet:
        packet = av.Packet(payload)
        packet.pts = pts
        packet.time_base = TIME_BASE
        return packet

    def _wall_pts(self) -> int:
        assert self._clock0 is not None
        return int((time.monotonic() - self._clock0) * RATE) // FRAME_SAMPLES * FRAME_SAMPLES
