"""A virtual user pressing keys: RFC 4733 telephone-events sent on the user's own RTP stream.

Meta's "User-initiated calls" page (section "Dual tone multi frequency (DTMF) support"): the tones are injected
into the call's RTP stream per RFC 4733, on telephone-event/8000 only; the events use the same timestamp and
sequence number bases as the audio packets, and their duration field counts 8000 Hz units.

Each event takes the place of the audio packets sent while it lasts (RFC 4733 §2.5): a first packet with the
marker bit, updates every 20 ms with a growing duration, then the end packet three times, all with the
timestamp of the event's start. The user's audio goes on before, between and after the events.
"""

from __future__ import annotations

import math
import struct
from collections import deque

from aiortc.rtp import is_rtcp

KEYS = "0123456789*#ABCD"  # RFC 4733 §3.2: events 0-15
PACKET_MS = 20  # the user's audio packets, which the events replace one for one
UNITS_PER_PACKET = 8000 * PACKET_MS // 1000
END_PACKETS = 3
GAP_PACKETS = 5  # audio between two key presses
VOLUME = 10  # -10 dBm0
MAX_DURATION_MS = 0xFFFF * 1000 // 8000  # the 16-bit duration field


def event_payload(key: str, end: bool, duration: int) -> bytes:
    return struct.pack("!BBH", KEYS.index(key), (0x80 if end else 0) | VOLUME, duration)


def press_packets(key: str, duration_ms: int) -> list[tuple[bool, bytes]]:
    """(marker, payload) of each packet of one key press, 20 ms apart."""
    count = max(1, math.ceil(min(duration_ms, MAX_DURATION_MS) / PACKET_MS))
    packets = [(n == 1, event_payload(key, n == count, n * UNITS_PER_PACKET)) for n in range(1, count + 1)]
    return packets + [(False, packets[-1][1])] * (END_PACKETS - 1)


def header_length(data: bytes) -> int:
    """An RTP packet's header with its CSRCs and header extension (RFC 3550 §5.1, §5.3.1)."""
    length = 12 + 4 * (data[0] & 0x0F)
    if data[0] & 0x10:
        (words,) = struct.unpack("!H", data[length + 2 : length + 4])
        length += 4 + 4 * words
    return length


def as_event(data: bytes, payload_type: int, marker: bool, timestamp: int, payload: bytes) -> bytes:
    """The audio packet ``data`` turned into a telephone-event packet: same SSRC, sequence number and header
    extensions; the event's payload type, marker and timestamp; no padding."""
    header = bytearray(data[: header_length(data)])
    header[0] &= 0xDF
    header[1] = (0x80 if marker else 0) | payload_type
    header[4:8] = struct.pack("!I", timestamp)
    return bytes(header) + payload


class KeyPad:
    """Key presses waiting to go out, written over the user's outgoing audio packets as they pass."""

    def __init__(self) -> None:
        self.payload_type: int | None = None  # the telephone-event/8000 payload type both sides agreed on
        self.sent: list[str] = []  # keys whose last end packet has gone out
        self._waiting: deque[tuple[str, int]] = deque()
        self._packets: deque[tuple[bool, bytes]] = deque()
        self._key = ""
        self._timestamp = 0
        self._gap = 0

    @property
    def busy(self) -> bool:
        return bool(self._waiting or self._packets)

    def press(self, keys: str, duration_ms: int) -> None:
        self._waiting.extend((key, duration_ms) for key in keys.upper())

    def rewrite(self, data: bytes) -> bytes:
        """Pass an outgoing packet on, or turn it into the next packet of a key press."""
        if self.payload_type is None or is_rtcp(data) or len(data) < 12:
            return data
        if not self._packets:
            if self._gap or not self._waiting:
                self._gap = max(0, self._gap - 1)
                return data
            self._key, duration_ms = self._waiting.popleft()
            self._packets.extend(press_packets(self._key, duration_ms))
            (self._timestamp,) = struct.unpack("!I", data[4:8])  # the event starts with this packet
        marker, payload = self._packets.popleft()
        if not self._packets:
            self.sent.append(self._key)
            self._gap = GAP_PACKETS
        return as_event(data, self.payload_type, marker, self._timestamp, payload)
