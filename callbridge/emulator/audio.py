"""What a virtual user says and hears: paced 48 kHz audio sources, and analysis of received audio."""

from __future__ import annotations

import asyncio
import fractions
import io
import math
import time
import wave
from collections import deque
from pathlib import Path
from typing import TypedDict

import av
import numpy as np
from aiortc import MediaStreamTrack

RATE = 48000
FRAME = 960  # 20 ms
TIME_BASE = fractions.Fraction(1, RATE)


def tone(frequency: float, seconds: float, amplitude: float = 0.3, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * math.pi * frequency * t) * amplitude * 32767).astype(np.int16)


def decode_file(path: Path) -> np.ndarray:
    """Any file PyAV reads, as 48 kHz mono int16."""
    chunks = []
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        for frame in container.decode(audio=0):
            chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
        chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    if not chunks:
        raise ValueError(f"{path.name} has no audio")
    return np.concatenate(chunks).astype(np.int16)


class Mouth(MediaStreamTrack):
    """A paced audio track whose content can change mid-call: silence, a tone, a file, or an echo."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._start: float | None = None
        self._pts = 0
        self._source: np.ndarray | None = None  # looped
        self._offset = 0
        self._echo: deque[np.ndarray] | None = None
        self._phase = 0

    def say_silence(self) -> None:
        self._source, self._echo = None, None

    def say_samples(self, samples: np.ndarray) -> None:
        self._source, self._offset, self._echo = samples, 0, None

    def say_echo(self) -> None:
        self._source, self._echo = None, deque(maxlen=50)

    def hear_for_echo(self, samples: np.ndarray) -> None:
        if self._echo is not None:
            self._echo.append(samples)

    async def recv(self) -> av.AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._pts += FRAME
            delay = self._start + self._pts / RATE - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        samples = self._next()
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._pts
        frame.time_base = TIME_BASE
        return frame

    def _next(self) -> np.ndarray:
        if self._echo:
            chunk = self._echo.popleft()
            if len(chunk) == FRAME:
                return chunk
        if self._source is None or len(self._source) == 0:
            return np.zeros(FRAME, dtype=np.int16)
        end = self._offset + FRAME
        if end <= len(self._source):
            chunk = self._source[self._offset : end]
        else:
            chunk = np.concatenate([self._source[self._offset :], self._source[: end - len(self._source)]])
        self._offset = end % len(self._source)
        return chunk


class Ear:
    """Everything a user received, as 48 kHz mono int16, with arrival times for windowed analysis."""

    def __init__(self) -> None:
        self.chunks: list[np.ndarray] = []
        self.arrivals: list[float] = []
        self.first_at: float | None = None
        self.last_at: float | None = None

    def hear(self, frame: av.AudioFrame) -> np.ndarray:
        data = frame.to_ndarray()
        if data.ndim == 2 and data.shape[0] == 1 and frame.layout.nb_channels > 1:
            data = data.reshape(-1, frame.layout.nb_channels).mean(axis=1)  # packed stereo
        elif data.ndim == 2:
            data = data.mean(axis=0)
        mono = data.astype(np.int16)
        if frame.sample_rate != RATE:
            mono = np.interp(np.arange(0, len(mono), frame.sample_rate / RATE), np.arange(len(mono)), mono).astype(
                np.int16
            )
        now = time.monotonic()
        self.first_at = self.first_at or now
        self.last_at = now
        self.chunks.append(mono)
        self.arrivals.append(now)
        return mono

    def samples(self, last_seconds: float | None = None) -> np.ndarray:
        chunks = self.chunks
        if last_seconds is not None and self.arrivals:
            cutoff = time.monotonic() - last_seconds
            chunks = [c for c, t in zip(self.chunks, self.arrivals, strict=True) if t >= cutoff]
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)

    def report(self, last_seconds: float | None = None) -> Heard:
        return analyse(self.samples(last_seconds))

    def wav(self) -> bytes:
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(RATE)
            out.writeframes(self.samples().tobytes())
        return buffer.getvalue()


class Heard(TypedDict):
    """What a stretch of audio holds, as the emulator reports it (``heard``)."""

    seconds: float
    dominant_hz: float | None  # None for silence
    rms_dbfs: float
    peaks_hz: list[float]


def analyse(samples: np.ndarray, rate: int = RATE) -> Heard:
    """Length, dominant frequency, level (dBFS) and the strongest distinct peaks of a mono signal."""
    seconds = len(samples) / rate
    if len(samples) < rate // 10:
        return {"seconds": round(seconds, 3), "dominant_hz": None, "rms_dbfs": -120.0, "peaks_hz": []}
    x = samples.astype(np.float64) / 32768.0
    rms = math.sqrt(float(np.mean(x * x)))
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    spectrum[freqs < 50] = 0  # ignore DC and rumble
    peaks = _peaks(spectrum, freqs)
    return {
        "seconds": round(seconds, 3),
        "dominant_hz": round(float(freqs[int(np.argmax(spectrum))]), 1) if rms > 1e-5 else None,
        "rms_dbfs": round(max(-120.0, 20 * math.log10(rms)) if rms > 0 else -120.0, 1),
        "peaks_hz": peaks,
    }


def _peaks(spectrum: np.ndarray, freqs: np.ndarray, count: int = 3) -> list[float]:
    """Up to ``count`` strongest peaks at least 50 Hz apart and within 20 dB of the strongest."""
    if not spectrum.any():
        return []
    order = np.argsort(spectrum)[::-1]
    floor = spectrum[order[0]] / 10
    found: list[float] = []
    for index in order[:2000]:
        if spectrum[index] < floor:
            break
        hz = float(freqs[index])
        if all(abs(hz - other) > 50 for other in found):
            found.append(round(hz, 1))
            if len(found) == count:
                break
    return found
