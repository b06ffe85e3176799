"""Audio as voice bots send and hear it: G.711 μ-law at 8 kHz (Twilio's only format) or 16-bit linear PCM at 16 or
24 kHz, and the resampling to and from the 48 kHz the call's Opus runs at.

L16 here is little-endian, as the PCM that speech engines produce and bots pass around (Pipecat's frames, OpenAI's
and most TTS engines' pcm16), not RTP's network-order audio/L16: a bot sends and receives the bytes its engines use.
"""

from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np

from callbridge.media import g711
from callbridge.media.opus import RATE


def ulaw_decode(data: bytes) -> np.ndarray:
    return g711.decode(data, "pcmu")


def ulaw_encode(pcm: np.ndarray) -> bytes:
    return g711.encode(pcm, "pcmu")


class NotWholeSamples(ValueError):
    """A payload whose length is not a whole number of samples."""


@dataclass(frozen=True)
class AudioFormat:
    name: str  # as the API takes it
    encoding: str  # as start.mediaFormat.encoding tells the bot
    rate: int
    sample_bytes: int

    @property
    def frame_samples(self) -> int:
        """Samples in 20 ms."""
        return self.rate // 50

    def decode(self, payload: bytes) -> np.ndarray:
        """The payload's samples as int16 at this format's rate."""
        if self.sample_bytes == 1:
            return ulaw_decode(payload)
        if len(payload) % self.sample_bytes:
            raise NotWholeSamples(f"{len(payload)} bytes is not a whole number of 16-bit samples")
        return np.frombuffer(payload, dtype="<i2").astype(np.int16)

    def encode(self, pcm: np.ndarray) -> bytes:
        if self.sample_bytes == 1:
            return ulaw_encode(pcm)
        return pcm.astype("<i2").tobytes()

    def silence(self, samples: int) -> bytes:
        return self.encode(np.zeros(samples, dtype=np.int16))


FORMATS = {
    "twilio": AudioFormat("twilio", "audio/x-mulaw", 8000, 1),
    "l16-16k": AudioFormat("l16-16k", "audio/x-l16", 16000, 2),
    "l16-24k": AudioFormat("l16-24k", "audio/x-l16", 24000, 2),
}


class Resampler:
    """Mono int16 from one rate to another, continuous across calls (libswresample keeps the filter's state)."""

    def __init__(self, source: int, target: int) -> None:
        self.source, self.target = source, target
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=target) if source != target else None

    def convert(self, pcm: np.ndarray) -> np.ndarray:
        if self._resampler is None or pcm.size == 0:
            return pcm
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1).astype(np.int16), format="s16", layout="mono")
        frame.sample_rate = self.source
        out = self._resampler.resample(frame)
        if not out:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate([f.to_ndarray().reshape(-1) for f in out]).astype(np.int16)


def to_call_rate(fmt: AudioFormat) -> Resampler:
    return Resampler(fmt.rate, RATE)


def from_call_rate(fmt: AudioFormat) -> Resampler:
    return Resampler(RATE, fmt.rate)
