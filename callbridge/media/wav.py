"""A WAV writer that keeps its header true while it writes, so a killed process leaves a valid file."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

HEADER_BYTES = 44


class WavWriter:
    """16-bit PCM, the layout the stdlib ``wave`` module reads. :meth:`sync` rewrites the sizes in place."""

    def __init__(self, path: Path, rate: int, channels: int) -> None:
        self.path = path
        self.rate = rate
        self.channels = channels
        self.frames = 0
        self._file = path.open("wb")
        self._file.write(self._header())

    def _header(self) -> bytes:
        data = self.frames * self.channels * 2
        block = self.channels * 2
        return (
            b"RIFF"
            + struct.pack("<I", 36 + data)
            + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, 1, self.channels, self.rate, self.rate * block, block, 16)
            + b"data"
            + struct.pack("<I", data)
        )

    def write(self, samples: np.ndarray) -> None:
        """``samples``: int16, shape (n,) for mono or (n, channels)."""
        data = np.ascontiguousarray(samples, dtype="<i2")
        self._file.write(data.tobytes())
        self.frames += len(data)

    def sync(self) -> None:
        """Make the file on disk a complete WAV of everything written so far."""
        end = self._file.tell()
        self._file.seek(0)
        self._file.write(self._header())
        self._file.seek(end)
        self._file.flush()

    @property
    def seconds(self) -> float:
        return self.frames / self.rate

    def close(self) -> None:
        if not self._file.closed:
            self.sync()
            self._file.close()
