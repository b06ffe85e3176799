"""Audio files for playback tests, made with PyAV in every format the gateway plays."""

from __future__ import annotations

import fractions
from pathlib import Path

import av
import numpy as np
from av.audio.stream import AudioStream

FORMATS = {
    ".wav": ("wav", "pcm_s16le", 16000),
    ".mp3": ("mp3", "libmp3lame", 44100),
    ".ogg": ("ogg", "libvorbis", 44100),
    ".opus": ("ogg", "libopus", 48000),
}


def write_tone(path: Path, hz: float, seconds: float, amplitude: float = 0.4) -> Path:
    container_format, codec_name, rate = FORMATS[path.suffix]
    if codec_name == "libvorbis" and "libvorbis" not in av.codecs_available:
        codec_name = "vorbis"
    t = np.arange(int(seconds * rate)) / rate
    pcm = (np.sin(2 * np.pi * hz * t) * amplitude * 32767).astype(np.int16)
    # FFmpeg's own Vorbis encoder is "experimental" and stereo only.
    layout = "stereo" if codec_name == "vorbis" else "mono"
    options = {"strict": "-2"} if codec_name == "vorbis" else {}
    with av.open(str(path), "w", format=container_format) as out:
        stream = out.add_stream(codec_name, rate=rate, options=options)
        assert isinstance(stream, AudioStream)  # an audio codec makes an audio stream
        stream.layout = layout
        formats = stream.codec_context.codec.audio_formats
        assert formats, f"{codec_name} lists no sample formats"
        sample_format = formats[0].name
        resampler = av.AudioResampler(format=sample_format, layout=layout, rate=rate)
        step = 1024
        for i in range(0, len(pcm), step):
            frame = av.AudioFrame.from_ndarray(pcm[i : i + step].reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = rate
            frame.pts = i
            frame.time_base = fractions.Fraction(1, rate)
            for converted in resampler.resample(frame):
                out.mux(stream.encode(converted))
        out.mux(stream.encode(None))
    return path
