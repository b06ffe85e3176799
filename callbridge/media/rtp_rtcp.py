"""RTCP for an RTP endpoint (RFC 3550): sender or receiver reports about both directions, and what the app's
reports say about the stream it receives (loss, jitter)."""

from __future__ import annotations

import time
from typing import Any

from aiortc.rtp import (
    RtcpPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSourceInfo,
    RtcpSrPacket,
)

from callbridge.media.rtp_reception import Reception

NTP_EPOCH = 2208988800  # seconds from 1900 to 1970
REPORT_EVERY = 5.0  # seconds between our reports (RFC 3550's minimum interval)


def ntp_now() -> int:
    now = time.time() + NTP_EPOCH
    return (int(now) << 32) | int((now % 1) * (1 << 32))


class RtcpState:
    def __init__(self, ssrc: int, clock_rate: int, cname: str) -> None:
        self.ssrc = ssrc
        self.clock_rate = clock_rate
        self.cname = cname.encode()
        self.peer_ssrc: int | None = None
        self.reception: Reception | None = None
        self.sent_packets = 0
        self.sent_octets = 0
        self.last_rtp_timestamp = 0
        self._last_sent_at = 0.0  # monotonic time the last RTP packet left
        self._last_sr: tuple[int, float] | None = None  # middle 32 bits of the app's last SR, and when it came
        self.peer_report: dict[str, Any] | None = None  # what the app says about what it receives from us
        self.reports_received = 0
        self.reports_sent = 0

    def received(self, ssrc: int, sequence_number: int, timestamp: int, arrival: float) -> None:
        """A packet from the peer arrived at ``arrival`` (monotonic seconds)."""
        reception = self.reception
        if reception is None or ssrc != self.peer_ssrc:
            self.peer_ssrc = ssrc  # a new source (the app restarted): statistics start over
            reception = self.reception = Reception(self.clock_rate)
        reception.add(sequence_number, timestamp, arrival)

    def sent_rtp(self, payload_size: int, timestamp: int) -> None:
        self.sent_packets += 1
        self.sent_octets += payload_size
        self.last_rtp_timestamp = timestamp
        self._last_sent_at = time.monotonic()

    def rtp_timestamp_now(self) -> int:
        """The RTP timestamp that corresponds to this moment: the last sent one moved on by the time since, so an
        SR's NTP and RTP timestamps name the same instant (RFC 3550 6.4.1)."""
        elapsed = max(0.0, time.monotonic() - self._last_sent_at)
        return (self.last_rtp_timestamp + int(elapsed * self.clock_rate)) & 0xFFFFFFFF

    def digest(self, data: bytes) -> None:
        """An RTCP compound packet from the app; ``ValueError`` if it is not one."""
        packets = RtcpPacket.parse(data)
        if not packets:
            raise ValueError("empty RTCP packet")
        self.reports_received += 1
        for packet in packets:
            if isinstance(packet, RtcpSrPacket):
                middle = (packet.sender_info.ntp_timestamp >> 16) & 0xFFFFFFFF
                self._last_sr = (middle, time.monotonic())
            if isinstance(packet, RtcpSrPacket | RtcpRrPacket):
                for block in packet.reports:
                    if block.ssrc == self.ssrc:
                        self.peer_report = {
                            "fraction_lost": round(block.fraction_lost / 256, 4),
                            "packets_lost": block.packets_lost,
                            "jitter_ms": round(block.jitter * 1000 / self.clock_rate, 2),
                        }

    def report(self) -> bytes:
        """Our next compound packet: SR once we have sent media (RR before), with SDES CNAME."""
        blocks = []
        max_seq = self.reception.max_seq if self.reception is not None else None
        if self.reception is not None and self.peer_ssrc is not None and max_seq is not None:
            lsr, dlsr = 0, 0
            if self._last_sr is not None:
                lsr = self._last_sr[0]
                dlsr = int((time.monotonic() - self._last_sr[1]) * 65536)
            stats = self.reception
            blocks.append(
                RtcpReceiverInfo(
                    ssrc=self.peer_ssrc,
                    fraction_lost=stats.fraction_lost(),
                    packets_lost=stats.packets_lost,
                    highest_sequence=(stats.cycles + max_seq) & 0xFFFFFFFF,
                    jitter=stats.jitter,
                    lsr=lsr,
                    dlsr=dlsr,
                )
            )
        head: RtcpSrPacket | RtcpRrPacket
        if self.sent_packets:
            info = RtcpSenderInfo(
                ntp_timestamp=ntp_now(),
                rtp_timestamp=self.rtp_timestamp_now(),
                packet_count=self.sent_packets & 0xFFFFFFFF,
                octet_count=self.sent_octets & 0xFFFFFFFF,
            )
            head = RtcpSrPacket(ssrc=self.ssrc, sender_info=info, reports=blocks)
        else:
            head = RtcpRrPacket(ssrc=self.ssrc, reports=blocks)
        sdes = RtcpSdesPacket(chunks=[RtcpSourceInfo(ssrc=self.ssrc, items=[(1, self.cname)])])
        self.reports_sent += 1
        return bytes(head) + bytes(sdes)

    def stats(self) -> dict[str, Any]:
        reception = None
        if self.reception is not None and self.reception.max_seq is not None:
            reception = {
                "packets_lost": self.reception.packets_lost,
                "jitter_ms": round(self.reception.jitter * 1000 / self.clock_rate, 2),
            }
        return {
            "reports_sent": self.reports_sent,
            "reports_received": self.reports_received,
            "received": reception,  # what we measure of the app's stream
            "reported": self.peer_report,  # what the app reports of ours
        }
