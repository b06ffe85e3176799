"""G.711 at an RTP endpoint's boundary: what a PBX tool or a hardware phone says becomes Opus frames for the
call's router, and the Opus it should hear becomes 8 kHz μ-law or A-law. Opus apps skip all of this."""

from __future__ import annotations

import av
import numpy as np

from callbridge.media import g711
from callbridge.media.inbound import InboundAudio
from callbridge.media.opus import FRAME_SAMPLES, RATE, SILENCE, OpusDecoder, OpusEncoder, OpusFrame
from callbridge.media.quality import ArrivalJitter

NARROW = g711.RATE
RATIO = RATE // NARROW  # 6
MAX_FILL = NARROW // 5  # a gap up to 200 ms is filled with silence; a longer one starts a new run


class Resampler:
    """Mono int16 from one rate to another, keeping the filter's state between chunks."""

    def __init__(self, rate_in: int, rate_out: int) -> None:
        self.rate_in = rate_in
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=rate_out)
        self._pts = 0

    def __call__(self, pcm: np.ndarray) -> np.ndarray:
        frame = av.AudioFrame.from_ndarray(pcm.astype(np.int16).reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self.rate_in
        frame.pts = self._pts
        self._pts += len(pcm)
        out = [f.to_ndarray().reshape(-1) for f in self._resampler.resample(frame)]
        return np.concatenate(out).astype(np.int16) if out else np.zeros(0, np.int16)


class G711Inbound(InboundAudio):
    """The app's G.711 packets, reordered by the jitter buffer as any, then turned into 20 ms Opus frames."""

    def __init__(self, law: str) -> None:
        super().__init__()
        self.jitter = ArrivalJitter(clock_rate=NARROW)  # G.711's RTP clock is 8 kHz
        self.law = law
        self.g711_decoded = 0
        self.encoded = 0
        self._upsample = Resampler(NARROW, RATE)
        self._encoder = OpusEncoder()
        self._pending = np.zeros(0, np.int16)
        self._next_ts: int | None = None  # 8 kHz timestamp the next packet should carry
        self._out_ts = 0  # 48 kHz timestamp of the next Opus frame

    def _release(self, frame: OpusFrame) -> None:
        pcm = g711.decode(frame.payload, self.law)
        self.g711_decoded += 1
        if self._next_ts is not None and 0 < frame.timestamp - self._next_ts <= MAX_FILL:
            pcm = np.concatenate([np.zeros(frame.timestamp - self._next_ts, np.int16), pcm])  # a lost packet
        elif self._next_ts is not None and frame.timestamp != self._next_ts:
            self._pending = np.zeros(0, np.int16)  # a new run: its own timeline, as after a pause
            self._out_ts += RATE
        self._next_ts = frame.timestamp + len(frame.payload)
        self._pending = np.concatenate([self._pending, self._upsample(pcm)])
        while len(self._pending) >= FRAME_SAMPLES:
            chunk, self._pending = self._pending[:FRAME_SAMPLES], self._pending[FRAME_SAMPLES:]
            payload = self._encoder.encode(chunk)
            self.encoded += 1
            super()._release(OpusFrame(self._out_ts, payload))
            self._out_ts += FRAME_SAMPLES


class G711Outbound:
    """Turns each 20 ms Opus frame the endpoint should hear into 160 G.711 bytes (silence costs no decoding)."""

    def __init__(self, law: str) -> None:
        self.law = law
        self.decoded = 0
        self._decoder = OpusDecoder()
        self._downsample = Resampler(RATE, NARROW)
        per_frame = FRAME_SAMPLES // RATIO
        self._pending = np.zeros(per_frame // 2, np.int16)  # 10 ms head start: the resampler's delay never starves
        self._per_frame = per_frame

    def convert(self, opus: bytes) -> bytes:
        if opus == SILENCE:
            pcm = np.zeros(FRAME_SAMPLES, np.int16)
        else:
            pcm = self._decoder.decode(opus)
            self.decoded += 1
        self._pending = np.concatenate([self._pending, self._downsample(pcm)])
        if len(self._pending) < self._per_frame:
            self._pending = np.concatenate([np.zeros(self._per_frame - len(self._pending), np.int16), self._pending])
        chunk, self._pending = self._pending[: self._per_frame], self._pending[self._per_frame :]
        return g711.encode(chunk, self.law)
