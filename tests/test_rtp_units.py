"""The pure parts of native RTP endpoints: SDP text, addresses and port ranges, G.711, latching, RTCP, SRTP, and an
endpoint in-process that survives any datagram."""

from __future__ import annotations

import asyncio
import itertools
import os
import time

import numpy as np
import pytest
from aiortc.rtp import RtcpPacket, RtpPacket

from callbridge.media import g711
from callbridge.media.endpoint import Role
from callbridge.media.lean.demux import is_rtcp
from callbridge.media.opus import FRAME_SAMPLES, RATE, OpusDecoder, OpusEncoder, OpusFrame
from callbridge.media.rtp_endpoint import RtpEndpoint, RtpOptions
from callbridge.media.rtp_rtcp import RtcpState
from callbridge.media.rtp_sdp import CODECS, codec_named, describe, format_address, parse_address, parse_ports
from callbridge.media.rtp_socket import Latch
from callbridge.media.rtp_transcode import G711Inbound, G711Outbound
from callbridge.media.srtp_keys import SRTP_ERRORS, Srtp, inline, new_key


def peak(pcm: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64) * np.hanning(len(pcm))))
    return float(np.argmax(spectrum) * rate / len(pcm))


def tone(hz: float, rate: int, seconds: float) -> np.ndarray:
    t = np.arange(int(rate * seconds))
    return (np.sin(2 * np.pi * hz * t / rate) * 12000).astype(np.int16)


def test_the_sdp_names_where_the_app_receives_and_what_it_receives() -> None:
    sdp = describe(CODECS["opus"], ("127.0.0.1", 5004), "10.0.0.2")
    lines = sdp.split("\r\n")
    assert lines[0] == "v=0" and sdp.endswith("\r\n")
    assert "c=IN IP4 127.0.0.1" in lines and "m=audio 5004 RTP/AVP 111" in lines
    assert "a=rtpmap:111 opus/48000/2" in lines and "a=ptime:20" in lines and "a=sendrecv" in lines
    assert any(line.startswith("o=- ") and line.endswith("IN IP4 10.0.0.2") for line in lines)
    pcmu = describe(CODECS["pcmu"], ("::1", 6000), "::1", crypto_key="a2V5")
    assert "c=IN IP6 ::1" in pcmu and "m=audio 6000 RTP/SAVP 0" in pcmu and "a=rtpmap:0 PCMU/8000" in pcmu
    assert "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:a2V5" in pcmu and "fmtp" not in pcmu
    assert "a=rtpmap:8 PCMA/8000" in describe(CODECS["pcma"], ("127.0.0.1", 5004), "127.0.0.1")


@pytest.mark.parametrize(
    ("text", "address"),
    [("127.0.0.1:5004", ("127.0.0.1", 5004)), (" 10.1.2.3:1 ", ("10.1.2.3", 1)), ("[::1]:65535", ("::1", 65535))],
)
def test_addresses_are_ip_and_port(text: str, address: tuple[str, int]) -> None:
    assert parse_address(text) == address
    assert parse_address(format_address(address)) == address


@pytest.mark.parametrize(
    "text", ["", "5004", "host:5004", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "1.2.3.4:x", "::1:5004", ":5"]
)
def test_malformed_addresses_are_refused_with_a_reason(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_address(text)


def test_port_ranges_and_codecs() -> None:
    assert parse_ports("40000-40999") == range(40000, 41000) and parse_ports("41000") == range(41000, 41001)
    for bad in ("a-b", "100-200", "5000-4000", "40000-70000"):
        with pytest.raises(ValueError):
            parse_ports(bad)
    assert codec_named("PCMU").payload_type == 0 and codec_named("opus").payload_type == 111
    with pytest.raises(ValueError, match="unknown codec"):
        codec_named("g722")


@pytest.mark.parametrize("law", ["pcmu", "pcma"])
def test_g711_round_trip_keeps_the_signal(law: str) -> None:
    pcm = tone(1000, 8000, 0.5)
    back = g711.decode(g711.encode(pcm, law), law)
    assert len(g711.encode(pcm, law)) == len(pcm)
    assert np.abs(back.astype(int) - pcm).max() < 400  # G.711's step at this level
    assert g711.decode(g711.silence(law, 4), law).tolist() == [0, 0, 0, 0] or law == "pcma"


@pytest.mark.parametrize("law", ["pcmu", "pcma"])
async def test_g711_transcoding_both_ways_keeps_the_tone(law: str) -> None:
    inbound = G711Inbound(law)
    frames: list[OpusFrame] = []
    inbound.sinks.append(frames.append)
    codes = g711.encode(tone(660, 8000, 1.0), law)
    for i in range(50):
        packet = RtpPacket(payload_type=0, sequence_number=i, timestamp=i * 160, payload=codes[i * 160 : (i + 1) * 160])
        vars(packet)["_data"] = packet.payload  # as aiortc's depayloader leaves it
        inbound.on_packet(packet)
    assert len(frames) >= 48 and all(b.timestamp - a.timestamp == FRAME_SAMPLES for a, b in itertools.pairwise(frames))
    decoder = OpusDecoder()
    assert peak(np.concatenate([decoder.decode(f.payload) for f in frames])[RATE // 5 :], RATE) == pytest.approx(660, 3)

    outbound, encoder = G711Outbound(law), OpusEncoder()
    voice = tone(440, RATE, 1.0)
    out = b"".join(
        outbound.convert(encoder.encode(voice[i : i + FRAME_SAMPLES])) for i in range(0, RATE, FRAME_SAMPLES)
    )
    assert len(out) == 8000 and outbound.decoded == 50
    assert peak(g711.decode(out, law)[1600:], 8000) == pytest.approx(440, abs=3)


def test_latching_takes_the_first_valid_source_and_drops_the_rest() -> None:
    latch = Latch(None)
    assert latch.allows(("10.0.0.5", 4000)) and not latch.allows(("10.0.0.5", 4001), rtcp=True)
    assert latch.confirm(("::ffff:10.0.0.5", 4000)) and latch.target == ("10.0.0.5", 4000)
    assert not latch.confirm(("10.0.0.6", 4000)) and latch.target == ("10.0.0.5", 4000)
    assert latch.allows(("10.0.0.5", 4000)) and not latch.allows(("10.0.0.5", 4002))
    assert latch.allows(("10.0.0.5", 4001), rtcp=True) and not latch.allows(("10.0.0.6", 4001), rtcp=True)


def test_a_given_remote_address_is_sent_to_at_once_and_any_port_of_its_host_accepted() -> None:
    latch = Latch(("127.0.0.1", 5004))
    assert latch.target == ("127.0.0.1", 5004) and latch.fixed
    assert latch.allows(("127.0.0.1", 40123)) and not latch.allows(("127.0.0.2", 5004))
    assert not latch.confirm(("127.0.0.1", 40123)) and latch.target == ("127.0.0.1", 5004)


def test_rtcp_is_told_from_rtp_and_reports_go_both_ways() -> None:
    assert is_rtcp(b"\x80\xc8") and is_rtcp(b"\x81\xc9") and not is_rtcp(b"\x80\x6f") and not is_rtcp(b"\x80")
    gateway, app = RtcpState(1, 48000, "gw"), RtcpState(2, 48000, "app")
    for seq in (0, 1, 2, 4):  # one lost
        gateway.received(2, seq, seq * 960, time.monotonic())
    gateway.sent_rtp(100, 960)
    report = gateway.report()
    assert [type(p).__name__ for p in RtcpPacket.parse(report)] == ["RtcpSrPacket", "RtcpSdesPacket"]
    assert gateway.stats()["received"]["packets_lost"] == 1
    app.digest(report)
    assert app.stats()["reported"]["packets_lost"] == 1 and app.stats()["reports_received"] == 1
    assert next(type(p).__name__ for p in RtcpPacket.parse(app.report())) == "RtcpRrPacket"  # sent nothing yet
    with pytest.raises(ValueError):
        app.digest(b"\x80\xc9\x00\x09")


def test_srtp_with_one_key_both_ways_and_failures_raise() -> None:
    key = new_key()
    assert len(key) == 30 and len(inline(key)) == 40
    gateway, app = Srtp(key), Srtp(key)
    packet = RtpPacket(payload_type=111, sequence_number=5, ssrc=3, payload=b"voice").serialize()
    assert app.unprotect(gateway.protect(packet)) == packet
    with pytest.raises(SRTP_ERRORS):
        Srtp(new_key()).unprotect(app.protect(packet))
    with pytest.raises(SRTP_ERRORS):
        app.unprotect(os.urandom(40))


async def test_an_endpoint_survives_any_datagram_and_counts_it() -> None:
    options = RtpOptions(CODECS["opus"], "127.0.0.1", range(42200, 42300), srtp=True, idle_limit=5)
    endpoint = await RtpEndpoint.open("x", Role.TALK, options)
    try:
        assert endpoint.connected and endpoint.idle_limit == 5 and endpoint.description().srtp_key
        for size in (0, 1, 2, 12, 13, 40, 200, 1500):
            endpoint._datagram(os.urandom(size), ("127.0.0.1", 9), rtcp_port=bool(size % 2))
            endpoint._datagram(b"\x80\xc9" + os.urandom(size), ("127.0.0.1", 9), rtcp_port=False)
        stats = endpoint.stats()["rtp"]
        assert stats["received"] == 0 and stats["latched"] is False and stats["remote"] is None
        assert stats["invalid"] + stats["srtp_failed"] + stats["wrong_source"] == 16
        endpoint.outgoing.push(OpusFrame(0, b"\xf8\xff\xfe"))
        await asyncio.sleep(0.05)
        assert endpoint.stats()["rtp"]["unsent"] >= 1  # nobody to send to until the app's first packet
    finally:
        await endpoint.close()
    assert endpoint.state == "closed"
    await endpoint.close()  # twice is fine
