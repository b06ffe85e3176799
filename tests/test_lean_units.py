"""The lean packet path's parts, with real SRTP sessions (pylibsrtp) and aiortc's own RTP/RTCP parsers as the
judge: the RFC 7983 demux, SSRC/sequence/timestamp rewriting, and our RTCP sender and receiver reports. The one
stand-in is for aioice/aiortc objects the path reads (an ICE pair and a DTLS transport)."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from typing import Any, cast

import pylibsrtp
import pytest
from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.rtcrtpparameters import (
    RTCRtcpParameters,
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
    RTCRtpReceiveParameters,
    RTCRtpSendParameters,
)
from aiortc.rtp import RtcpByePacket, RtcpPacket, RtcpRrPacket, RtcpSdesPacket, RtcpSrPacket, RtpPacket

from callbridge.media.inbound import InboundAudio
from callbridge.media.lean.demux import DTLS, OTHER, READ_SIZE, RTCP, RTP, STUN, SocketTap, classify, small_reads
from callbridge.media.lean.leg_path import AUDIO_LEVEL_URI, MID_URI, LeanLegPath
from callbridge.media.lean.rtp_reader import read_rtp
from callbridge.media.lean.rtp_writer import RtpWriter, one_byte_extensions
from callbridge.media.opus import SILENCE, OpusFrame
from callbridge.media.outbound import OutboundAudio
from callbridge.media.rtp_rtcp import NTP_EPOCH, RtcpState

PROFILE = pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80
OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=111)


def srtp_pair(profile: int = PROFILE) -> tuple[pylibsrtp.Session, pylibsrtp.Session]:
    """A sender's and a receiver's session keyed alike, as DTLS-SRTP leaves them (AES-CM keys and salts are 30
    bytes, AES-128-GCM's 28)."""
    key = os.urandom(28 if profile == pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM else 30)
    kinds = (pylibsrtp.Policy.SSRC_ANY_OUTBOUND, pylibsrtp.Policy.SSRC_ANY_INBOUND)
    tx, rx = (pylibsrtp.Session(pylibsrtp.Policy(key=key, ssrc_type=k, srtp_profile=profile)) for k in kinds)
    return tx, rx


def rtp(seq: int, ts: int, ssrc: int = 0x1234, payload: bytes = b"\xf8\xff\xfe", pt: int = 111) -> bytes:
    return RtpPacket(payload_type=pt, sequence_number=seq, timestamp=ts, ssrc=ssrc, payload=payload).serialize()


# ---- demux -----------------------------------------------------------------------------------------------------


def test_first_bytes_pick_the_protocol_as_rfc_7983_says() -> None:
    assert classify(b"\x00\x01\x00\x00") == STUN  # binding request
    assert classify(b"\x01\x01") == STUN  # binding success
    assert classify(b"\x16\xfe\xfd") == DTLS  # handshake
    assert classify(b"\x15\xfe\xfd") == DTLS  # alert
    assert classify(rtp(1, 960)) == RTP
    assert classify(b"\x80\xc8\x00\x06") == RTCP  # SR
    assert classify(b"\x81\xc9\x00\x07") == RTCP  # RR
    assert classify(b"\x80\xcc") == RTCP  # APP (204) is RTCP too, though aiortc's test stops at 208
    assert classify(b"\x80\x6f") == RTP  # payload type 111
    assert classify(b"\x40\x00") == OTHER  # a TURN channel message
    assert classify(b"") == OTHER


class _Protocol:
    """Where aioice's StunProtocol takes datagrams."""

    transport: Any = None

    def __init__(self) -> None:
        self.got: list[bytes] = []

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.got.append(data)


def test_the_tap_takes_srtp_and_leaves_stun_and_dtls_to_the_protocol_until_removed() -> None:
    protocol = _Protocol()
    taken: list[bytes] = []
    tap = SocketTap(lambda data, addr: taken.append(data))
    tap.tap(protocol)
    tap.tap(protocol)  # twice is once
    for data in (b"\x00\x01\x00\x00", b"\x16\xfe\xfd", rtp(7, 960), b"\x80\xc9\x00\x01"):
        protocol.datagram_received(data, ("127.0.0.1", 9))
    assert protocol.got == [b"\x00\x01\x00\x00", b"\x16\xfe\xfd"]
    assert taken == [rtp(7, 960), b"\x80\xc9\x00\x01"]
    tap.untap()
    protocol.datagram_received(rtp(8, 1920), ("127.0.0.1", 9))
    assert protocol.got[-1] == rtp(8, 1920) and len(taken) == 2


# ---- rewriting -------------------------------------------------------------------------------------------------


def test_the_writer_puts_frames_on_the_destinations_own_stream() -> None:
    writer = RtpWriter(ssrc=0xCAFEBABE, payload_type=111, sequence=0xFFFE, timestamp_base=0xFFFFFC40)
    packets = [RtpPacket.parse(writer.write(bytes([i]) * 10, pts)) for i, pts in enumerate((0, 960, 1920, 4800))]
    assert [p.ssrc for p in packets] == [0xCAFEBABE] * 4
    assert [p.sequence_number for p in packets] == [0xFFFE, 0xFFFF, 0, 1]  # wraps, and stays gap-free
    assert [p.timestamp for p in packets] == [0xFFFFFC40, 0, 960, 3840]  # base + pts, modulo 2^32
    assert [p.marker for p in packets] == [1, 0, 0, 0]  # the stream's start is marked
    assert [p.payload for p in packets] == [bytes([i]) * 10 for i in range(4)]
    assert writer.last_timestamp == 3840


def test_the_mid_extension_is_written_as_aiortc_reads_it() -> None:
    from aiortc.rtp import HeaderExtensionsMap

    params = RTCRtpReceiveParameters(
        codecs=[OPUS], headerExtensions=[RTCRtpHeaderExtensionParameters(id=1, uri=MID_URI)]
    )
    extensions = HeaderExtensionsMap()
    extensions.configure(params)
    writer = RtpWriter(ssrc=5, payload_type=111, extensions=one_byte_extensions([(1, b"0")]))
    packet = RtpPacket.parse(writer.write(b"opus", 0), extensions)
    assert packet.extensions.mid == "0" and packet.payload == b"opus"
    with pytest.raises(ValueError):
        one_byte_extensions([(15, b"x")])
    assert one_byte_extensions([]) == b""


# ---- RTCP ------------------------------------------------------------------------------------------------------


def test_receiver_reports_count_loss_and_sender_reports_name_one_instant() -> None:
    tx, rx = srtp_pair()
    ours = RtcpState(ssrc=0xAAAA, clock_rate=48000, cname="gw")
    for seq in [*range(100, 150), *range(151, 200)]:  # one packet of 100 lost
        ours.received(0x1234, seq, seq * 960, time.monotonic())
    for n in range(10):
        ours.sent_rtp(40, 5000 + n * 960)
    time.sleep(0.05)
    before = time.time()
    wire = tx.protect_rtcp(ours.report())
    packets = RtcpPacket.parse(rx.unprotect_rtcp(wire))
    sr, sdes = packets
    assert isinstance(sr, RtcpSrPacket) and isinstance(sdes, RtcpSdesPacket)
    assert sr.ssrc == 0xAAAA and sr.sender_info.packet_count == 10 and sr.sender_info.octet_count == 400
    [block] = sr.reports
    assert block.ssrc == 0x1234 and block.packets_lost == 1 and block.highest_sequence == 199
    assert block.fraction_lost == 256 // 100 + 0  # 1 of 100 expected, in 1/256ths
    # NTP and RTP timestamps of the SR are one instant: the last packet's timestamp moved on by the time since.
    ntp = sr.sender_info.ntp_timestamp
    ntp_seconds = (ntp >> 32) - NTP_EPOCH + (ntp & 0xFFFFFFFF) / 2**32
    assert abs(ntp_seconds - before) < 0.05
    moved = sr.sender_info.rtp_timestamp - (5000 + 9 * 960)
    assert 0.04 * 48000 <= moved <= 0.5 * 48000, moved
    assert sdes.chunks[0].items == [(1, b"gw")]


def test_before_sending_anything_we_send_receiver_reports_and_read_the_peers() -> None:
    tx, rx = srtp_pair()
    ours = RtcpState(ssrc=0xBBBB, clock_rate=48000, cname="gw")
    ours.received(0x1234, 1, 960, time.monotonic())
    rr = RtcpPacket.parse(rx.unprotect_rtcp(tx.protect_rtcp(ours.report())))[0]
    assert isinstance(rr, RtcpRrPacket) and rr.reports[0].packets_lost == 0
    # The peer's SR about our stream: its loss and jitter show in the stats, its NTP time becomes our LSR.
    peer = RtcpState(ssrc=0x1234, clock_rate=48000, cname="peer")
    peer.received(0xBBBB, 1, 960, time.monotonic())
    peer.sent_rtp(3, 960)
    ours.digest(peer.report())
    assert ours.stats()["reported"] == {"fraction_lost": 0.0, "packets_lost": 0, "jitter_ms": 0.0}
    again = RtcpPacket.parse(ours.report())[0]
    assert isinstance(again, RtcpRrPacket) and again.reports[0].lsr != 0


# ---- the path, end to end over real SRTP ------------------------------------------------------------------------


class _Transport:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, Any]] = []

    def sendto(self, data: bytes, addr: Any) -> None:
        self.sent.append((data, addr))


class _Stand:
    """An attribute bag standing in for aiortc's DTLS transport, aioice's connection, pair and protocol."""

    def __init__(self, **attributes: Any) -> None:
        self.__dict__.update(attributes)
        self.handlers: list[Any] = []

    def __getattr__(self, name: str) -> Any:  # for the type checker: any attribute it was given
        raise AttributeError(name)

    def on(self, event: str, handler: Any) -> None:
        self.handlers.append(handler)


async def test_packets_cross_the_path_both_ways_over_srtp() -> None:
    gateway_tx, peer_rx = srtp_pair()
    peer_tx, gateway_rx = srtp_pair()
    protocol = _Protocol()
    protocol.transport = _Transport()
    pair = _Stand(protocol=protocol, remote_addr=("127.0.0.1", 5000))
    connection = _Stand(_nominated={1: pair}, _protocols=[protocol])
    dtls = _Stand(transport=_Stand(_connection=connection), _rx_srtp=gateway_rx, _tx_srtp=gateway_tx, state="connected")
    # Stand-ins with just what the path reads of aiortc's sender and receiver:
    sender = cast(RTCRtpSender, _Stand(transport=dtls, _ssrc=0x5EED))
    receiver = cast(RTCRtpReceiver, _Stand(transport=dtls))
    inbound, outbound = InboundAudio(), OutboundAudio()
    heard: list[OpusFrame] = []
    inbound.sinks.append(heard.append)
    path = LeanLegPath(inbound, outbound)
    extensions = [RTCRtpHeaderExtensionParameters(id=1, uri=MID_URI)]
    rtcp = RTCRtcpParameters(cname="gw")
    path.sending(sender, RTCRtpSendParameters(codecs=[OPUS], headerExtensions=extensions, muxId="0", rtcp=rtcp))
    path.receiving(receiver, RTCRtpReceiveParameters(codecs=[OPUS], headerExtensions=extensions, rtcp=rtcp))
    try:
        # In: the peer's SRTP on the ICE socket reaches the inbound in order, its RTCP is read.
        for seq in (10, 12, 11):  # reordered: the jitter buffer puts it right
            protocol.datagram_received(peer_tx.protect(rtp(seq, seq * 960, payload=bytes([seq]))), pair.remote_addr)
        assert [f.payload for f in heard] == [b"\x0a", b"\x0b", b"\x0c"]
        assert protocol.got == []  # nothing of it went on to aioice
        protocol.datagram_received(b"\x00\x01\x00\x00" + bytes(16), pair.remote_addr)
        assert len(protocol.got) == 1  # STUN did
        # Out: pushed frames leave at once, rewritten to our SSRC and numbering, with the MID.
        await asyncio.sleep(0.05)  # the shared clock sends silence meanwhile: the leg is never mute
        outbound.push(OpusFrame(96000, b"hello"))
        outbound.push(OpusFrame(96960, b"world"))
        sent = [
            RtpPacket.parse(peer_rx.unprotect(data)) for data, _ in protocol.transport.sent if classify(data) == RTP
        ]
        assert (
            sent[0].payload == SILENCE
            and sent[0].marker == 1
            and sent[-2].payload == b"hello"
            and sent[-1].payload == b"world"
        )
        assert {p.ssrc for p in sent} == {0x5EED}
        assert [p.sequence_number for p in sent] == [(sent[0].sequence_number + i) & 0xFFFF for i in range(len(sent))]
        assert (sent[-1].timestamp - sent[-2].timestamp) & 0xFFFFFFFF == 960
        assert outbound.counts["forwarded"] == 2 and outbound.counts["silence"] >= 1
        assert path.counts["received"] == 3 and path.counts["sent"] == len(sent)
    finally:
        path.close()
    # Closing says BYE and gives the socket back to aioice.
    bye = protocol.transport.sent[-1][0]
    [said] = RtcpPacket.parse(peer_rx.unprotect_rtcp(bye))
    assert isinstance(said, RtcpByePacket) and said.sources == [0x5EED]
    protocol.datagram_received(rtp(1, 1), pair.remote_addr)
    assert protocol.got[-1] == rtp(1, 1)


async def test_asyncio_datagram_sockets_read_small_once_tapped() -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    protocol = _Protocol()
    protocol.transport = transport
    try:
        assert getattr(transport, "max_size", None) in (None, 256 * 1024)  # uvloop has no such attribute
        SocketTap(lambda data, addr: None).tap(protocol)
        assert getattr(transport, "max_size", None) in (None, READ_SIZE)
        small_reads(object())  # anything without a read size is left alone
    finally:
        transport.close()


# ---- reading -----------------------------------------------------------------------------------------------------


def test_our_reader_agrees_with_aiortcs_parser() -> None:
    from aiortc.rtp import HeaderExtensionsMap

    params = RTCRtpReceiveParameters(
        codecs=[OPUS],
        headerExtensions=[
            RTCRtpHeaderExtensionParameters(id=1, uri=MID_URI),
            RTCRtpHeaderExtensionParameters(id=3, uri=AUDIO_LEVEL_URI),
        ],
    )
    extensions = HeaderExtensionsMap()
    extensions.configure(params)
    cases = []
    for level, mid, csrc, padding in [
        ((True, 37), "0", [], 0),
        ((False, 127), None, [], 0),
        (None, "audio", [1, 2], 0),
        ((False, 0), "0", [9], 3),
        (None, None, [], 0),
    ]:
        packet = RtpPacket(payload_type=111, marker=1, sequence_number=65535, timestamp=2**32 - 1, ssrc=0xDEADBEEF)
        packet.payload, packet.csrc, packet.padding_size = b"\xfc\x01\x02" * 7, csrc, padding
        packet.extensions.audio_level, packet.extensions.mid = level, mid
        cases.append(packet.serialize(extensions))
    for data in cases:
        theirs = RtpPacket.parse(data, extensions)
        padded = memoryview(bytearray(data) + b"\xee" * 40)  # read in a larger buffer, as the path does
        for ours in (read_rtp(data, len(data), 3), read_rtp(padded, len(data), 3)):
            assert ours == (
                theirs.payload_type,
                theirs.marker,
                theirs.sequence_number,
                theirs.timestamp,
                theirs.ssrc,
                theirs.payload,
                theirs.extensions.audio_level,
            )
    assert read_rtp(cases[0], len(cases[0]), None)[6] is None  # not negotiated: not looked for
    for bad in (b"\x80\x6f\x00", b"\x40" + cases[0][1:], cases[0][:14]):
        with pytest.raises(ValueError):
            read_rtp(bad, len(bad), 3)


# ---- the outbound on the lean path -------------------------------------------------------------------------------


async def test_an_attached_outbound_sends_queued_frames_then_silence_on_the_shared_clock() -> None:
    from callbridge.media.lean.pacer import pacer

    outbound = OutboundAudio()
    outbound.push(OpusFrame(0, b"early"))  # before the leg is up: queued, as for aiortc's sender
    sent: list[tuple[bytes, int]] = []
    outbound.attach(lambda payload, pts: sent.append((payload, pts)))
    assert sent == [(b"early", 0)]
    assert outbound in pacer().members
    await asyncio.sleep(0.2)  # idle: after IDLE_AFTER (60 ms) silence every 20 ms, on one timeline
    silence = [pts for payload, pts in sent if payload == SILENCE]
    assert 3 <= len(silence) <= 10, sent
    assert all(b - a == 960 for a, b in itertools.pairwise(silence))
    assert silence[0] >= 960
    outbound.push(OpusFrame(48000, b"voice"))  # forwarded: sent at once, after the silence on the timeline
    assert sent[-1][0] == b"voice" and sent[-1][1] > silence[-1]
    outbound.stop()
    assert outbound not in pacer().members and not pacer().members
    count = len(sent)
    await asyncio.sleep(0.06)
    assert len(sent) == count  # detached: nothing more
