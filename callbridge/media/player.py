"""Playing files into a call: a queue of decoded files (the router mixes them with the live voices), and a
file on a loop (hold audio)."""

from __future__ import annotations

import logging
import secrets
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from callbridge.errors import InvalidRequest
from callbridge.media.opus import FRAME_SAMPLES, RATE

log = logging.getLogger(__name__)


@dataclass
class Track:
    """One file, opened and measured, ready to play."""

    path: Path
    name: str  # as the client named it, relative to the files directory
    seconds: float
    to_all: bool = True  # heard by the endpoints too, not only by the WhatsApp user
    id: str = field(default_factory=lambda: "play-" + secrets.token_hex(6))
    played: int = 0  # frames sent so far
    _chunks: Iterator[np.ndarray] | None = None

    @classmethod
    def open(cls, path: Path, name: str) -> Track:
        """Read the whole file once: it proves the file decodes and measures it (runs in a worker thread)."""
        samples = 0
        try:
            for chunk in _decode(path):
                samples += len(chunk)
        except av.FFmpegError as exc:  # its text names the file by its absolute path: say only what went wrong
            raise InvalidRequest(f"{name} is not a playable audio file: {exc.strerror or type(exc).__name__}") from exc
        except (ValueError, IndexError) as exc:
            raise InvalidRequest(f"{name} is not a playable audio file: {exc}") from exc
        if samples == 0:
            raise InvalidRequest(f"{name} has no audio")
        return cls(path, name, round(samples / RATE, 3))

    def read(self) -> np.ndarray | None:
        if self._chunks is None:
            self._chunks = _frames(_decode(self.path))
        frame = next(self._chunks, None)
        self.played += frame is not None
        return frame

    def rewind(self) -> None:
        self._chunks = None
        self.played = 0


def _decode(path: Path) -> Iterator[np.ndarray]:
    """The file as 48 kHz mono int16, in whatever chunks the decoder gives."""
    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise ValueError("no audio stream")
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                yield out.to_ndarray().reshape(-1)
        for out in resampler.resample(None):
            yield out.to_ndarray().reshape(-1)


def _frames(chunks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """Re-cut into 20 ms frames; the last one is padded with silence."""
    pending = np.zeros(0, dtype=np.int16)
    for chunk in chunks:
        pending = np.concatenate([pending, chunk])
        while len(pending) >= FRAME_SAMPLES:
            yield pending[:FRAME_SAMPLES]
            pending = pending[FRAME_SAMPLES:]
    if len(pending):
        yield np.concatenate([pending, np.zeros(FRAME_SAMPLES - len(pending), dtype=np.int16)])


class Playlist:
    """Queued files, 20 ms at a time."""

    def __init__(self, on_started: Callable[[Track], None], on_finished: Callable[[Track, bool], None]) -> None:
        self.queue: deque[Track] = deque()
        self.current: Track | None = None
        self._on_started = on_started
        self._on_finished = on_finished

    @property
    def position(self) -> float:
        """Seconds played of the current file."""
        return round(self.current.played * FRAME_SAMPLES / RATE, 1) if self.current is not None else 0.0

    @property
    def busy(self) -> bool:
        return self.current is not None or bool(self.queue)

    @property
    def to_all(self) -> bool:
        """Whether what plays next is for the endpoints too."""
        upcoming = self.current or (self.queue[0] if self.queue else None)
        return upcoming is not None and upcoming.to_all

    def add(self, track: Track) -> None:
        self.queue.append(track)

    def drop(self, track: Track) -> None:
        """Take one file out, whether it waits or plays (it is reported stopped)."""
        if track in self.queue:
            self.queue.remove(track)
        elif track is self.current:
            self.current = None
        else:
            return
        self._on_finished(track, True)

    def stop(self) -> None:
        """Stop the current file and drop the queue."""
        stopped = [t for t in (self.current, *self.queue) if t is not None]
        self.queue.clear()
        self.current = None
        for track in stopped:
            self._on_finished(track, True)

    def read(self) -> np.ndarray | None:
        """The next 960 samples of 48 kHz mono int16, or None when the queue has run out."""
        while True:
            if self.current is None:
                if not self.queue:
                    return None
                self.current = self.queue.popleft()
                self._on_started(self.current)
            try:
                pcm = self.current.read()
            except av.FFmpegError as exc:
                log.warning("playback of %s failed: %s", self.current.path.name, exc)
                pcm = None
            if pcm is not None:
                return pcm
            finished, self.current = self.current, None
            self._on_finished(finished, False)


class Loop:
    """One file over and over (hold audio), 20 ms at a time."""

    def __init__(self, track: Track) -> None:
        self.track = track

    def read(self) -> np.ndarray | None:
        pcm = self.track.read()
        if pcm is None:
            self.track.rewind()
            pcm = self.track.read()
        return pcm
