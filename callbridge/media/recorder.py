"""Recording a call to WAV: what WhatsApp sends (left, or mono) and, optionally, the mix of the call's talkers
and whisperers (right). The call's router hands both over decoded, 20 ms at a time.

The file follows the wall clock: every stretch with no audio (loss, silence suppression, no browser) is
written as silence, so its length is the time the recording ran. The header is rewritten every second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from pathlib import Path

import av
import numpy as np

from callbridge.media.opus import RATE
from callbridge.media.wav import WavWriter

log = logging.getLogger(__name__)

FLUSH_EVERY = 0.1  # seconds between writes
LAG = 0.12  # seconds of audio left unwritten, for frames still on their way
SYNC_EVERY = 1.0  # seconds between header rewrites
MAX_BUFFERED = int(0.3 * RATE)  # samples a channel may hold before its oldest are dropped (clock drift)


class Channel:
    """Decoded audio of one side, waiting to be written."""

    def __init__(self) -> None:
        self._pcm: deque[np.ndarray] = deque()
        self._buffered = 0

    def hear(self, pcm: np.ndarray) -> None:
        self._pcm.append(pcm)
        self._buffered += len(pcm)
        while self._buffered > MAX_BUFFERED:
            self._buffered -= len(self._pcm.popleft())

    def take(self, count: int) -> np.ndarray:
        """Exactly ``count`` samples: what arrived, then silence for what did not."""
        out = np.zeros(count, dtype=np.int16)
        filled = 0
        while filled < count and self._pcm:
            chunk = self._pcm[0]
            n = min(len(chunk), count - filled)
            out[filled : filled + n] = chunk[:n]
            filled += n
            if n == len(chunk):
                self._pcm.popleft()
            else:
                self._pcm[0] = chunk[n:]
        self._buffered -= filled
        return out


class Recorder:
    def __init__(self, path: Path, rate: int = RATE, stereo: bool = False) -> None:
        self.path = path
        self.rate = rate
        self.stereo = stereo
        self.whatsapp = Channel()
        self.endpoints = Channel() if stereo else None
        self._writer = WavWriter(path, rate, 2 if stereo else 1)
        self._resampler = (
            av.AudioResampler(format="s16", layout="stereo" if stereo else "mono", rate=rate) if rate != RATE else None
        )
        self._started = time.monotonic()
        self._taken = 0  # 48 kHz samples taken from the channels so far
        self._last_sync = self._started
        self._task = asyncio.create_task(self._run(), name="recorder")

    @property
    def seconds(self) -> float:
        """What the file holds."""
        return round(self._writer.seconds, 3)

    @property
    def elapsed(self) -> float:
        """How long the recording has run (the file catches up within a fraction of a second)."""
        return round(time.monotonic() - self._started, 1)

    async def _run(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            while True:
                await asyncio.sleep(FLUSH_EVERY)
                self._write_until(time.monotonic() - LAG)
                if time.monotonic() - self._last_sync >= SYNC_EVERY:
                    self._writer.sync()
                    self._last_sync = time.monotonic()

    def _write_until(self, moment: float) -> None:
        due = int((moment - self._started) * RATE) - self._taken
        if due <= 0:
            return
        self._taken += due
        left = self.whatsapp.take(due)
        right = self.endpoints
        samples = np.stack([left, right.take(due)], axis=1) if right is not None else left
        self._writer.write(self._resample(samples))

    def _resample(self, samples: np.ndarray) -> np.ndarray:
        if self._resampler is None:
            return samples
        layout = "stereo" if self.stereo else "mono"
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout=layout)
        frame.sample_rate = RATE
        frames = self._resampler.resample(frame)
        if not frames:
            return np.zeros((0, 2) if self.stereo else 0, dtype=np.int16)
        flat = np.concatenate([f.to_ndarray().reshape(-1) for f in frames])
        return flat.reshape(-1, 2) if self.stereo else flat

    async def stop(self) -> float:
        """Write everything up to now, finish the file, and return its length in seconds."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._write_until(time.monotonic())
        if self._resampler is not None:
            tail = [f.to_ndarray().reshape(-1) for f in self._resampler.resample(None)]
            if tail:
                flat = np.concatenate(tail)
                self._writer.write(flat.reshape(-1, 2) if self.stereo else flat)
        self._writer.close()
        return self.seconds
