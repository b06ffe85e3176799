"""RTP packets as a leg sends them: our SSRC, our sequence numbers, timestamps on our timeline (RFC 3550).

Whatever a frame's source numbered it, the destination sees one continuous stream: the outbound track gives each
frame its place on the leg's timeline (``pts``, 48 kHz), and this adds the random base, the sequence number, and
the negotiated one-byte header extensions that do not change per packet (the MID).
"""

from __future__ import annotations

import secrets
import struct

VERSION = 0x80
EXTENSION = 0x10
ONE_BYTE_PROFILE = 0xBEDE


def one_byte_extensions(elements: list[tuple[int, bytes]]) -> bytes:
    """RFC 8285 one-byte header extension block (ids 1-14, 1-16 bytes each), padded to 32 bits."""
    body = b""
    for ext_id, value in elements:
        if not 0 < ext_id < 15 or not 0 < len(value) <= 16:
            raise ValueError(f"extension {ext_id} of {len(value)} bytes does not fit the one-byte form")
        body += bytes([(ext_id << 4) | (len(value) - 1)]) + value
    if not body:
        return b""
    body += b"\x00" * (-len(body) % 4)
    return struct.pack("!HH", ONE_BYTE_PROFILE, len(body) // 4) + body


class RtpWriter:
    def __init__(
        self,
        ssrc: int,
        payload_type: int,
        extensions: bytes = b"",
        sequence: int | None = None,
        timestamp_base: int | None = None,
    ) -> None:
        self.ssrc = ssrc
        self.payload_type = payload_type
        self.extensions = extensions
        self.sequence = secrets.randbits(16) if sequence is None else sequence & 0xFFFF
        self.timestamp_base = secrets.randbits(32) if timestamp_base is None else timestamp_base
        self.last_timestamp = self.timestamp_base
        self._first_byte = VERSION | (EXTENSION if extensions else 0)
        self._header = struct.Struct(f"!BBHII{len(extensions)}s")  # the fixed header and the extensions in one go
        self._payload_at = self._header.size
        self._marker_next = True

    def skip(self) -> None:
        """Use up a sequence number without a packet: what a receiver sees when one is lost on the way."""
        self.sequence = (self.sequence + 1) & 0xFFFF

    def write(self, payload: bytes, pts: int) -> bytes:
        """The packet for a frame at ``pts`` on the leg's timeline; the first packet carries the marker."""
        buffer = bytearray(self._payload_at + len(payload))
        self.write_into(buffer, payload, pts)
        return bytes(buffer)

    def write_into(self, buffer: bytearray | memoryview, payload: bytes, pts: int) -> int:
        """The same packet written at the start of ``buffer`` (where it will be protected); its length."""
        timestamp = (self.timestamp_base + pts) & 0xFFFFFFFF
        second = self.payload_type | (0x80 if self._marker_next else 0)
        self._marker_next = False
        self._header.pack_into(
            buffer, 0, self._first_byte, second, self.sequence, timestamp, self.ssrc, self.extensions
        )
        self.sequence = (self.sequence + 1) & 0xFFFF
        self.last_timestamp = timestamp
        start = self._payload_at
        end = start + len(payload)
        buffer[start:end] = payload
        return end
