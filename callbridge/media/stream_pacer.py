"""What a bot says, queued and played in real time: bots send speech faster than real time, in chunks of any
length, with ``mark`` messages between them and ``clear`` when the user barges in.

The queue holds 48 kHz PCM and the marks in the order they came. Each 20 ms tick takes one frame; a mark is due
once the audio queued before it has been taken (played), and at once when nothing is queued before it. A talkspurt
starts playing once 40 ms is queued (a cushion for bots that send in real time) or once the bot has paused.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from callbridge.media.opus import FRAME_SAMPLES, RATE

MAX_SECONDS = 120.0  # at least this much audio is kept; beyond it the oldest is dropped (and counted)
PREBUFFER = 2 * FRAME_SAMPLES
SETTLE = 0.03  # seconds without new audio after which what is queued plays, however little


@dataclass
class _Mark:
    name: str


@dataclass
class Taken:
    pcm: np.ndarray | None  # one 20 ms frame, or None when there is nothing to play
    marks: list[str] = field(default_factory=list)  # due once this frame is delivered


class PlayQueue:
    def __init__(self, max_seconds: float = MAX_SECONDS) -> None:
        self.max_samples = int(max_seconds * RATE)
        self._items: deque[np.ndarray | _Mark] = deque()
        self.samples = 0  # audio queued
        self.dropped_samples = 0  # audio dropped from the front because the queue was full
        self.playing = False
        self.last_added = 0.0

    @property
    def seconds(self) -> float:
        return self.samples / RATE

    def add_audio(self, pcm: np.ndarray, now: float | None = None) -> None:
        if pcm.size == 0:
            return
        self._items.append(pcm)
        self.samples += pcm.size
        self.last_added = time.monotonic() if now is None else now
        while self.samples > self.max_samples:
            self._drop_oldest(self.samples - self.max_samples)

    def _drop_oldest(self, excess: int) -> None:
        for i, item in enumerate(self._items):
            if isinstance(item, np.ndarray):
                cut = min(excess, item.size)
                if cut == item.size:
                    del self._items[i]
                else:
                    self._items[i] = item[cut:]
                self.samples -= cut
                self.dropped_samples += cut
                return

    def add_mark(self, name: str) -> None:
        self._items.append(_Mark(name))

    def clear(self) -> list[str]:
        """Drop everything queued; returns the marks that were waiting (Twilio sends them back on ``clear``)."""
        marks = [item.name for item in self._items if isinstance(item, _Mark)]
        self._items.clear()
        self.samples = 0
        self.playing = False
        return marks

    def _leading_marks(self) -> list[str]:
        """Takes the marks at the front of the queue, up to the first audio."""
        marks = []
        while self._items and isinstance(head := self._items[0], _Mark):
            self._items.popleft()
            marks.append(head.name)
        return marks

    def take(self, now: float | None = None) -> Taken:
        """The next 20 ms (zero-padded at the end of a talkspurt) and the marks due after it."""
        now = time.monotonic() if now is None else now
        taken = Taken(None)
        if not self.playing:
            if self.samples >= PREBUFFER or (self.samples > 0 and now - self.last_added >= SETTLE):
                self.playing = True
            else:
                taken.marks += self._leading_marks()
                return taken
        parts: list[np.ndarray] = []
        need = FRAME_SAMPLES
        while self._items and need > 0:
            head = self._items[0]
            if isinstance(head, _Mark):
                taken.marks.append(head.name)
                self._items.popleft()
                continue
            if head.size <= need:
                parts.append(head)
                need -= head.size
                self._items.popleft()
            else:
                parts.append(head[:need])
                self._items[0] = head[need:]
                need = 0
        taken.marks += self._leading_marks()  # marks right after this frame's audio
        got = FRAME_SAMPLES - need
        self.samples -= got
        if got == 0:
            self.playing = False
            return taken
        if need:
            parts.append(np.zeros(need, dtype=np.int16))
        if self.samples == 0:
            self.playing = False
        taken.pcm = np.concatenate(parts) if len(parts) > 1 else parts[0]
        return taken
