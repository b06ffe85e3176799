"""How well a leg's audio arrived: interarrival jitter (RFC 3550) kept as a bounded sample, and a summary of the
leg's final figures when it closes (loss, jitter p95, late frames, packets each way).

Cheap on the media path: per packet a few float operations and, once the sample is full, an integer compare
(Li's Algorithm L draws random numbers only for the values it keeps). Nothing here knows about metrics: whoever
wants closed legs' summaries (the metrics) adds itself to :data:`leg_closed_hooks`.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from callbridge.media.jitter import JitterStats

log = logging.getLogger(__name__)

RESERVOIR_SIZE = 512  # jitter samples kept per leg: enough for a p95 within a few tenths of a percentile
CLOCK_RATE = 48000  # Opus RTP timestamps


class Reservoir:
    """A uniform random sample of at most ``size`` values out of a stream of any length (Algorithm L)."""

    def __init__(self, size: int = RESERVOIR_SIZE, rng: random.Random | None = None) -> None:
        self.size = size
        self.values: list[float] = []
        self.seen = 0
        self._rng = rng or random.Random()
        self._w = 1.0
        self._next = 0  # index (0-based, in the stream) of the next value to keep once the sample is full

    def add(self, value: float) -> None:
        index = self.seen
        self.seen += 1
        if index < self.size:
            self.values.append(value)
            if self.seen == self.size:
                self._w = self._draw_w()
                self._skip(index)
            return
        if index == self._next:
            self.values[self._rng.randrange(self.size)] = value
            self._w *= self._draw_w()
            self._skip(index)

    def _uniform(self) -> float:
        return 1.0 - self._rng.random()  # in (0, 1]: never log(0)

    def _draw_w(self) -> float:
        return math.exp(math.log(self._uniform()) / self.size)

    def _skip(self, index: int) -> None:
        w = min(self._w, 1.0 - 1e-12)
        self._next = index + math.floor(math.log(self._uniform()) / math.log(1.0 - w)) + 1

    def percentile(self, q: float) -> float:
        """The ``q`` quantile (0-1) of the sample, nearest rank; 0.0 when empty."""
        if not self.values:
            return 0.0
        ordered = sorted(self.values)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


class ArrivalJitter:
    """RFC 3550's interarrival jitter estimate (J += (|D| - J) / 16), sampled after every packet."""

    def __init__(self, clock_rate: int = CLOCK_RATE, size: int = RESERVOIR_SIZE) -> None:
        self.clock_rate = clock_rate
        self.jitter_ms = 0.0
        self.samples = Reservoir(size)
        self._last_transit: float | None = None

    def arrived(self, now: float, rtp_timestamp: int) -> None:
        """A packet came at monotonic time ``now`` (seconds) carrying ``rtp_timestamp`` (unwrapped)."""
        transit = now - rtp_timestamp / self.clock_rate
        if self._last_transit is not None:
            d = abs(transit - self._last_transit) * 1000.0
            self.jitter_ms += (d - self.jitter_ms) / 16.0
            self.samples.add(self.jitter_ms)
        self._last_transit = transit

    def p95_ms(self) -> float:
        return self.samples.percentile(0.95)


@dataclass(frozen=True)
class LegSummary:
    """A leg's figures when it closes: what came in (through its jitter buffer) and what it sent."""

    kind: str  # whatsapp, or the endpoint's kind (webrtc, rtp, stream)
    received: int  # audio packets that arrived
    released: int  # frames passed on in order
    lost: int  # frames given up on after the loss timeout
    late: int  # frames that came after their place was given up (or twice)
    jitter_p95_ms: float
    sent: int  # frames sent to the peer (forwarded, encoded or silence)

    @property
    def loss_percent(self) -> float:
        expected = self.released + self.lost
        return 100.0 * self.lost / expected if expected else 0.0

    @property
    def carried_rtp(self) -> bool:
        """Whether audio came over RTP (bot streams hand frames over in order, with no loss or jitter to see)."""
        return self.received > 0 or self.lost > 0


def summarize(kind: str, stats: JitterStats, jitter: ArrivalJitter, sent: int) -> LegSummary:
    """A leg's summary from its jitter buffer's figures, its jitter sample and the frames it sent."""
    return LegSummary(
        kind=kind,
        received=stats.received,
        released=stats.released,
        lost=stats.lost,
        late=stats.late,
        jitter_p95_ms=jitter.p95_ms(),
        sent=sent,
    )


leg_closed_hooks: list[Callable[[LegSummary], None]] = []


def leg_closed(summary: LegSummary) -> None:
    """Hand a closed leg's summary to whoever listens (the metrics); never let them break the media."""
    for hook in list(leg_closed_hooks):
        try:
            hook(summary)
        except Exception:
            log.exception("a leg-closed hook failed")
