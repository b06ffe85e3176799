"""Reading an unprotected RTP packet with only what the gateway looks at (RFC 3550, RFC 6464 in RFC 8285's
one-byte form): a third of the work of aiortc's ``RtpPacket.parse``, which decodes every header extension into
a new object per packet."""

from __future__ import annotations

import struct

from aiortc.rtp import HeaderExtensions, RtpPacket

_HEADER = struct.Struct("!BBHII")
_EXTENSION = struct.Struct("!HH")
ONE_BYTE_PROFILE = 0xBEDE
_NO_EXTENSIONS = HeaderExtensions()
# Readers never change a packet's extensions: one shared object per audio level value (voice flag, 0-127).
_LEVELS = {(vad, level): HeaderExtensions(audio_level=(vad, level)) for vad in (False, True) for level in range(128)}


class ReceivedRtp(RtpPacket):
    """An ``RtpPacket`` as the inbound side reads it, made without building the parts it never reads."""

    def __init__(  # no super().__init__(): that would make a fresh extensions object and CSRC list per packet
        self, payload_type: int, marker: int, sequence_number: int, timestamp: int, ssrc: int, payload: bytes
    ) -> None:
        self.payload_type = payload_type
        self.marker = marker
        self.sequence_number = sequence_number
        self.timestamp = timestamp
        self.ssrc = ssrc
        self.payload = payload
        self.padding_size = 0
        self.csrc = []
        self.extensions = _NO_EXTENSIONS


def read_rtp(data: bytes, audio_level_id: int | None) -> ReceivedRtp:
    """``ValueError`` for anything that is not an RTP version 2 packet with a whole header."""
    if len(data) < 12:
        raise ValueError("RTP packet too short")
    first, second, sequence_number, timestamp, ssrc = _HEADER.unpack_from(data)
    if first >> 6 != 2:
        raise ValueError("not RTP version 2")
    position = 12 + 4 * (first & 0x0F)
    level = None
    if first & 0x10:
        if len(data) < position + 4:
            raise ValueError("RTP header extension truncated")
        profile, words = _EXTENSION.unpack_from(data, position)
        start, position = position + 4, position + 4 + 4 * words
        if audio_level_id is not None and profile == ONE_BYTE_PROFILE and position <= len(data):
            level = _find_level(data, start, position, audio_level_id)
    end = len(data)
    if first & 0x20:
        end -= data[-1]
    if position > end:
        raise ValueError("RTP header longer than the packet")
    packet = ReceivedRtp(second & 0x7F, second >> 7, sequence_number, timestamp, ssrc, data[position:end])
    if level is not None:
        packet.extensions = _LEVELS[level]
    return packet


def _find_level(data: bytes, position: int, end: int, wanted: int) -> tuple[bool, int] | None:
    while position < end:
        byte = data[position]
        if byte == 0:  # padding
            position += 1
            continue
        ext_id, length = byte >> 4, (byte & 0x0F) + 1
        if ext_id == 15:
            return None
        if ext_id == wanted and position + 1 < end:
            value = data[position + 1]
            return bool(value & 0x80), value & 0x7F
        position += 1 + length
    return None
