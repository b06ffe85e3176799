"""Opus frames as the bridge moves them, and the codec for the few places that need PCM."""

from __future__ import annotations

import fractions
from dataclasses import dataclass

import av
import numpy as np

RATE = 48000
FRAME_SAMPLES = 960  # 20 ms, what WhatsApp and browsers use
TIME_BASE = fractions.Fraction(1, RATE)


@dataclass(frozen=True, slots=True)
class OpusFrame:
    """One encoded 20 ms frame, with its RTP timestamp unwrapped to a growing integer."""

    timestamp: int
    payload: bytes


class OpusEncoder:
    """Mono 48 kHz voice encoder, for audio the gateway makes itself (files, mixes)."""

    def __init__(self, bit_rate: int = 32000) -> None:
        self.codec = av.CodecContext.create("libopus", "w")
        self.codec.sample_rate = RATE
        self.codec.format = "s16"
        self.codec.layout = "mono"
        self.codec.bit_rate = bit_rate
        self.codec.options = {"application": "voip"}
        self.codec.time_base = TIME_BASE
        self._pts = 0

    def encode(self, pcm: np.ndarray) -> bytes:
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._pts
        self._pts += len(pcm)
        packets = self.codec.encode(frame)
        return bytes(packets[0]) if packets else SILENCE


class OpusDecoder:
    """Decodes to mono 48 kHz int16, 960 samples per frame; a lost frame is concealed by libopus."""

    def __init__(self) -> None:
        self.codec = av.CodecContext.create("libopus", "r")
        self.codec.sample_rate = RATE
        self.codec.format = "s16"
        self.codec.layout = "mono"

    def decode(self, payload: bytes) -> np.ndarray:
        try:
            frames = self.codec.decode(av.Packet(payload))
        except av.FFmpegError:
            return np.zeros(FRAME_SAMPLES, dtype=np.int16)
        if not frames:
            return np.zeros(FRAME_SAMPLES, dtype=np.int16)
        return np.concatenate([f.to_ndarray().reshape(-1) for f in frames]).astype(np.int16)


def _encoded_silence() -> bytes:
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate, codec.format, codec.layout, codec.time_base = RATE, "s16", "mono", TIME_BASE
    frame = av.AudioFrame.from_ndarray(np.zeros((1, FRAME_SAMPLES), np.int16), format="s16", layout="mono")
    frame.sample_rate, frame.pts = RATE, 0
    return bytes(codec.encode(frame)[0])


# Digital silence encodes to the same 3 bytes every time; a leg that idles sends this, encoding nothing.
SILENCE = _encoded_silence()
