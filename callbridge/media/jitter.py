"""A time-based audio jitter buffer: it restores order and gives up on a missing packet after a timeout.

aiortc's buffer counts packets: it holds 4 frames (+82 ms) and, after one loss, sits ~14 frames deep for good
(aiortc #543). This one forwards in-order packets the moment they arrive, waits at most ``loss_timeout`` for a
missing one, then skips it; the endpoints' own jitter buffers conceal the gap. It never holds more than the
timeout, so its delay cannot grow.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from callbridge.media.opus import OpusFrame

MAX_SPAN = 50  # packets held at most while waiting for a gap (1 s of audio)
RECENT = 250  # holds kept for the percentiles


@dataclass
class JitterStats:
    received: int = 0
    released: int = 0
    lost: int = 0  # skipped after the loss timeout
    late: int = 0  # arrived after their place was skipped, or repeated
    reordered: int = 0  # arrived after a later packet, in time
    hold_total_ms: float = 0.0
    hold_max_ms: float = 0.0
    held_frames: int = 0  # frames that had to wait for a gap
    depth_max: int = 0
    recent_hold_ms: deque[float] = field(default_factory=lambda: deque(maxlen=RECENT))  # for percentiles

    def as_dict(self) -> dict[str, float | int]:
        recent = sorted(self.recent_hold_ms)
        p95 = recent[int(len(recent) * 0.95)] if recent else 0.0
        return {
            "received": self.received,
            "released": self.released,
            "lost": self.lost,
            "late": self.late,
            "reordered": self.reordered,
            "hold_avg_ms": round(self.hold_total_ms / self.released, 2) if self.released else 0.0,
            "hold_p95_ms": round(p95, 2),
            "hold_max_ms": round(self.hold_max_ms, 2),
            "held_frames": self.held_frames,
            "depth_max": self.depth_max,
        }


class JitterBuffer:
    def __init__(
        self,
        release: Callable[[OpusFrame], None],
        loss_timeout: float = 0.02,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.release = release
        self.loss_timeout = loss_timeout
        self.clock = clock
        self.stats = JitterStats()
        self._next = 0  # extended sequence number expected next
        self._next_seq = -1  # the same as a 16-bit sequence number; -1 before the first packet
        self._held: dict[int, tuple[OpusFrame | None, float]] = {}  # None: a sequence number without audio
        self._last_ext: int | None = None
        self._timer: asyncio.TimerHandle | None = None

    def skip(self, sequence_number: int) -> None:
        """A packet of this stream that carries no audio (a telephone event): its place in the sequence is
        taken, so it is neither waited for nor counted as lost."""
        self._place(sequence_number, None)

    def add(self, sequence_number: int, frame: OpusFrame) -> None:
        if self.take_if_next(sequence_number):
            self.release(frame)
        else:
            self._place(sequence_number, frame)

    def take_if_next(self, sequence_number: int) -> bool:
        """The common case, kept short: the packet expected next with nothing waiting. Counted as received and
        released, and True: the caller passes it on at once (``add`` releases it; the inbound's passthrough lane
        forwards its fields without making a frame). False: nothing counted, the packet is for ``add``."""
        if sequence_number != self._next_seq or self._held:
            return False
        self._last_ext = self._next
        self._next += 1
        self._next_seq = self._next & 0xFFFF
        stats = self.stats
        stats.received += 1
        stats.released += 1
        stats.recent_hold_ms.append(0.0)
        return True

    def _place(self, sequence_number: int, frame: OpusFrame | None) -> None:
        ext = self._extend(sequence_number)
        stats = self.stats
        stats.received += frame is not None
        if self._next_seq < 0:
            self._next = ext
            stats.depth_max = 1
        if ext == self._next and not self._held:
            self._next += 1
            self._next_seq = self._next & 0xFFFF
            if frame is not None:
                self._account(0.0)
                self.release(frame)
            return
        now = self.clock()
        if ext < self._next or ext in self._held:
            self.stats.late += 1
            return
        if self._held and ext < max(self._held):
            self.stats.reordered += 1
        self._held[ext] = (frame, now)
        self.stats.depth_max = max(self.stats.depth_max, len(self._held))
        self._drain(now)
        if self._held and len(self._held) > MAX_SPAN:
            self._skip_gap(now)
        self._arm_timer()

    def _extend(self, seq: int) -> int:
        """16-bit sequence numbers to an ever-growing integer, tolerant of reordering around wrap-around."""
        if self._last_ext is None:
            self._last_ext = seq
            return seq
        delta = (seq - self._last_ext) & 0xFFFF
        if delta >= 0x8000:
            delta -= 0x10000
        ext = self._last_ext + delta
        self._last_ext = max(self._last_ext, ext)
        return ext

    def _drain(self, now: float) -> None:
        while self._next in self._held:
            frame, arrived = self._held.pop(self._next)
            self._next += 1
            self._next_seq = self._next & 0xFFFF
            if frame is not None:
                self._account(now - arrived)
                self.release(frame)

    def _account(self, held: float) -> None:
        held_ms = held * 1000
        stats = self.stats
        stats.released += 1
        stats.hold_total_ms += held_ms
        stats.hold_max_ms = max(stats.hold_max_ms, held_ms)
        if held_ms > 0.5:
            stats.held_frames += 1
        stats.recent_hold_ms.append(held_ms)

    def _skip_gap(self, now: float) -> None:
        first = min(self._held)
        self.stats.lost += first - self._next
        self._next = first
        self._next_seq = first & 0xFFFF
        self._drain(now)

    def _arm_timer(self) -> None:
        if not self._held:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            return
        if self._timer is None:
            oldest = min(arrived for _, arrived in self._held.values())
            delay = max(0.0, oldest + self.loss_timeout - self.clock())
            self._timer = asyncio.get_running_loop().call_later(delay, self._on_timeout)

    def _on_timeout(self) -> None:
        self._timer = None
        if self._held:
            self._skip_gap(self.clock())
        self._arm_timer()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
