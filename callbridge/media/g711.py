"""G.711 μ-law (PCMU) and A-law (PCMA): 16-bit PCM to 8-bit codes and back, by lookup tables.

The tables are FFmpeg's own pcm_mulaw/pcm_alaw codecs applied once to every possible value, so the gateway
codes exactly as FFmpeg (and the PBX tools built on it) do, and each conversion is one numpy indexing.
"""

from __future__ import annotations

from typing import cast

import av
import numpy as np

LAWS = {"pcmu": "pcm_mulaw", "pcma": "pcm_alaw"}
RATE = 8000


def _encode_table(codec_name: str) -> np.ndarray:
    codec = cast(av.AudioCodecContext, av.CodecContext.create(codec_name, "w"))
    codec.sample_rate, codec.format, codec.layout = RATE, "s16", "mono"
    every = np.arange(-32768, 32768, dtype=np.int16)
    frame = av.AudioFrame.from_ndarray(every.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = RATE
    codes = b"".join(bytes(p) for p in codec.encode(frame))
    return np.frombuffer(codes, dtype=np.uint8).copy()


def _decode_table(codec_name: str) -> np.ndarray:
    codec = cast(av.AudioCodecContext, av.CodecContext.create(codec_name, "r"))
    codec.sample_rate, codec.layout = RATE, "mono"
    frames = codec.decode(av.Packet(bytes(range(256))))
    return np.concatenate([f.to_ndarray().reshape(-1) for f in frames]).astype(np.int16)


_ENCODE = {law: _encode_table(name) for law, name in LAWS.items()}
_DECODE = {law: _decode_table(name) for law, name in LAWS.items()}


def encode(pcm: np.ndarray, law: str) -> bytes:
    """int16 samples to one code byte each; ``law`` is ``"pcmu"`` or ``"pcma"``."""
    return bytes(_ENCODE[law][pcm.astype(np.int32) + 32768])


def decode(codes: bytes, law: str) -> np.ndarray:
    return _DECODE[law][np.frombuffer(codes, dtype=np.uint8)]


def silence(law: str, samples: int) -> bytes:
    return encode(np.zeros(samples, dtype=np.int16), law)
