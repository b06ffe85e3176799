"""Process-wide fixes to aiortc, installed once by the gateway."""

from __future__ import annotations

import math

import aiortc.codecs
import aiortc.rtp
import numpy as np
from av import AudioFrame

from callbridge.media import consent
from callbridge.media.dtmf import TELEPHONE_EVENT


def compute_audio_level_dbov(frame: AudioFrame) -> int:
    """RFC 6464 level of a frame, in -dBov (0 loudest, 127 silent).

    aiortc's version loops over samples in Python (~0.2 ms a frame, more than encoding it) and scales stereo
    frames as if they held half the samples; this one is numpy, and counts every sample.
    """
    samples = np.frombuffer(bytes(frame.planes[0]), dtype=np.int16).astype(np.float32)
    if samples.size == 0:
        return -127
    rms = math.sqrt(float(np.dot(samples, samples)) / samples.size) / 32767.0
    if rms <= 0:
        return -127
    return round(max(-127.0, min(0.0, 20 * math.log10(rms))))


def install() -> None:
    aiortc.rtp.compute_audio_level_dbov = compute_audio_level_dbov
    consent.install()
    # aiortc knows no telephone-event, so it would leave it out of answers and drop the far end's key presses
    # as packets of an unknown payload type. Listed after the audio codecs, it is never chosen to send audio.
    audio = aiortc.codecs.CODECS["audio"]
    if not any(codec.mimeType.lower() == "audio/telephone-event" for codec in audio):
        audio.append(TELEPHONE_EVENT)
