"""What a receiver counts of one RTP source for its reports (RFC 3550 A.1, A.3, A.8): the highest sequence number
with its wrap-arounds, packets expected and lost, and the interarrival jitter.

It does what aiortc's ``StreamStatistics`` does, from the numbers alone: the packet path reads a packet's
sequence number and timestamp without building an ``RtpPacket``, and already has the time it arrived.
"""

from __future__ import annotations


class Reception:
    def __init__(self, clock_rate: int) -> None:
        self.clock_rate = clock_rate
        self.base_seq: int | None = None
        self.max_seq: int | None = None
        self.cycles = 0  # 65536 for each wrap-around of the sequence number
        self.packets_received = 0
        self._jitter = 0.0  # in timestamp units
        self._last_arrival = 0.0  # seconds, of the last in-order packet
        self._last_timestamp: int | None = None
        self._expected_prior = 0
        self._received_prior = 0

    def add(self, sequence_number: int, timestamp: int, arrival: float) -> None:
        """A packet of the source arrived at ``arrival`` (monotonic seconds)."""
        self.packets_received += 1
        max_seq = self.max_seq
        if max_seq is None:
            self.base_seq = self.max_seq = sequence_number
        elif 0 < (sequence_number - max_seq) & 0xFFFF < 0x8000:  # later than any before, gap or not
            if sequence_number < max_seq:
                self.cycles += 0x10000
            self.max_seq = sequence_number
        else:
            return  # late or repeated: counted, not timed
        last = self._last_timestamp
        if last is not None and timestamp != last:
            elapsed = ((timestamp - last + 0x80000000) & 0xFFFFFFFF) - 0x80000000  # wrap-around safe
            difference = abs((arrival - self._last_arrival) * self.clock_rate - elapsed)
            self._jitter += (difference - self._jitter) / 16
        self._last_arrival = arrival
        self._last_timestamp = timestamp

    @property
    def jitter(self) -> int:
        """Interarrival jitter in timestamp units, as a report block carries it."""
        return int(self._jitter)

    @property
    def packets_expected(self) -> int:
        if self.max_seq is None or self.base_seq is None:
            return 0
        return self.cycles + self.max_seq - self.base_seq + 1

    @property
    def packets_lost(self) -> int:
        """Cumulative loss, clamped to the report block's signed 24 bits (duplicates can make it negative)."""
        return max(-0x800000, min(0x7FFFFF, self.packets_expected - self.packets_received))

    def fraction_lost(self) -> int:
        """Loss since the last call, in 1/256ths (a report block's fraction lost); starts the next interval."""
        expected = self.packets_expected
        expected_interval, self._expected_prior = expected - self._expected_prior, expected
        received_interval = self.packets_received - self._received_prior
        self._received_prior = self.packets_received
        lost_interval = expected_interval - received_interval
        if expected_interval <= 0 or lost_interval <= 0:
            return 0
        return (lost_interval << 8) // expected_interval
