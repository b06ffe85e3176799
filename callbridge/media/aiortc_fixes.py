"""Process-wide fixes to aiortc, installed once by the gateway."""

from __future__ import annotations

import math

import aiortc.codecs
import aiortc.rtcrtpreceiver
import aiortc.rtp
import numpy as np
from aiortc.codecs.base import Decoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from av import AudioFrame
from av.frame import Frame

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


class _KeyEventsIgnored(Decoder):
    """For plain aiortc peers (the emulator's users, tests): key events are not audio to decode. The gateway's
    own legs read them before aiortc's decoder would see them (media/inbound.py)."""

    def decode(self, encoded_frame: JitterFrame) -> list[Frame]:
        return []


_get_decoder = aiortc.codecs.get_decoder


def _decoder_for(codec: RTCRtpCodecParameters) -> Decoder:
    if codec.mimeType.lower() == "audio/telephone-event":
        return _KeyEventsIgnored()  # aiortc raises in its decoder thread instead
    return _get_decoder(codec)


def install() -> None:
    aiortc.rtcrtpreceiver.get_decoder = _decoder_for
    aiortc.rtp.compute_audio_level_dbov = compute_audio_level_dbov
    consent.install()
    # aiortc knows no telephone-event, so it would leave it out of answers and drop the far end's key presses
    # as packets of an unknown payload type. Listed after the audio codecs, it is never chosen to send audio.
    audio = aiortc.codecs.CODECS["audio"]
    if not any(codec.mimeType.lower() == "audio/telephone-event" for codec in audio):
        audio.append(TELEPHONE_EVENT)
