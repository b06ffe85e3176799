"""Reading an unprotected RTP packet for only what the gateway looks at (RFC 3550, RFC 6464 in RFC 8285's
one-byte form), straight from the buffer it was unprotected in: a fraction of the work of aiortc's
``RtpPacket.parse``, which builds a packet object and decodes every header extension into another per packet."""

from __future__ import annotations

import struct

_HEADER = struct.Struct("!BBHII")
_EXTENSION = struct.Struct("!HH")
ONE_BYTE_PROFILE = 0xBEDE

AudioLevel = tuple[bool, int]  # RFC 6464: voice activity, level in -dBov (0 loudest, 127 silent)
# What the reader gives, as a plain tuple (cheapest on the packet path):
# (payload type, marker, sequence number, timestamp, SSRC, payload, audio level or None)
RtpFields = tuple[int, int, int, int, int, bytes, AudioLevel | None]
_LEVELS = {(vad, level): (vad, level) for vad in (False, True) for level in range(128)}  # one tuple per value


def read_rtp(data: bytes | memoryview, size: int, audio_level_id: int | None) -> RtpFields:
    """The RTP packet in the first ``size`` bytes of ``data`` (bytes or a memoryview); ``ValueError`` for anything
    that is not an RTP version 2 packet with a whole header."""
    if size < 12:
        raise ValueError("RTP packet too short")
    view = memoryview(data)
    first, second, sequence_number, timestamp, ssrc = _HEADER.unpack_from(view)
    if first >> 6 != 2:
        raise ValueError("not RTP version 2")
    position = 12 + 4 * (first & 0x0F)
    level = None
    if first & 0x10:
        if size < position + 4:
            raise ValueError("RTP header extension truncated")
        profile, words = _EXTENSION.unpack_from(view, position)
        start, position = position + 4, position + 4 + 4 * words
        if audio_level_id is not None and profile == ONE_BYTE_PROFILE and position <= size:
            level = _find_level(view, start, position, audio_level_id)
    end = size
    if first & 0x20:
        end -= view[size - 1]
    if position > end:
        raise ValueError("RTP header longer than the packet")
    return second & 0x7F, second >> 7, sequence_number, timestamp, ssrc, bytes(view[position:end]), level


def _find_level(view: memoryview, position: int, end: int, wanted: int) -> AudioLevel | None:
    while position < end:
        byte = view[position]
        if byte == 0:  # padding
            position += 1
            continue
        ext_id, length = byte >> 4, (byte & 0x0F) + 1
        if ext_id == 15:
            return None
        if ext_id == wanted and position + 1 < end:
            value = view[position + 1]
            return _LEVELS[bool(value & 0x80), value & 0x7F]
        position += 1 + length
    return None
