"""A native RTP app written here, as a small asyncio UDP peer: SRTP with the key /call/rtp returns (pylibsrtp, both
ways), latching to the first valid source, RTCP reports both ways, and garbage that is dropped and counted."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from asyncio import to_thread
from collections.abc import AsyncIterator
from typing import cast

import numpy as np
import pytest
from aiortc.rtp import RtcpPacket, RtcpReceiverInfo, RtcpRrPacket, RtpPacket

from callbridge.media.lean.demux import is_rtcp
from callbridge.media.opus import FRAME_SAMPLES, RATE, OpusDecoder, OpusEncoder
from callbridge.media.srtp_keys import SRTP_ERRORS, Srtp, new_key
from callbridge.testing import Scene
from tests.support.browser import wait_for
from tests.test_media_bridge import active_call
from tests.test_rtp_endpoint import ALICE, APP, alice_hears, call_stats, open_rtp, rtp_gateway, rtp_scene

__all__ = ["rtp_gateway", "rtp_scene"]  # the fixtures, shared with test_rtp_endpoint


class Peer(asyncio.DatagramProtocol):
    """One UDP socket sending and receiving RTP and RTCP on it (an app that multiplexes them)."""

    def __init__(self, srtp: Srtp | None) -> None:
        self.srtp = srtp
        self.transport: asyncio.DatagramTransport | None = None
        self.audio: list[RtpPacket] = []
        self.reports: list[object] = []
        self.unreadable = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # what create_datagram_endpoint hands it

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        try:
            if is_rtcp(data):
                self.reports += RtcpPacket.parse(self.srtp.unprotect_rtcp(data) if self.srtp else data)
            else:
                self.audio.append(RtpPacket.parse(self.srtp.unprotect(data) if self.srtp else data))
        except (*SRTP_ERRORS, ValueError):
            self.unreadable += 1

    def send(self, data: bytes, to: tuple[str, int], rtcp: bool = False) -> None:
        if self.srtp is not None:
            data = self.srtp.protect_rtcp(data) if rtcp else self.srtp.protect(data)
        assert self.transport is not None
        self.transport.sendto(data, to)


@contextlib.asynccontextmanager
async def peer(srtp: Srtp | None = None) -> AsyncIterator[Peer]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(lambda: Peer(srtp), local_addr=("127.0.0.1", 0))
    try:
        yield protocol
    finally:
        transport.close()


async def speak(app: Peer, to: tuple[str, int], hz: float, seconds: float, ssrc: int = 0x1234) -> None:
    """Opus frames of a tone, one every 20 ms, as a real app would send them."""
    encoder = OpusEncoder()
    t = np.arange(int(seconds * RATE))
    tone = (np.sin(2 * np.pi * hz * t / RATE) * 12000).astype(np.int16)
    for i in range(len(tone) // FRAME_SAMPLES):
        payload = encoder.encode(tone[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES])
        packet = RtpPacket(payload_type=111, sequence_number=i, timestamp=i * FRAME_SAMPLES, ssrc=ssrc, payload=payload)
        app.send(packet.serialize(), to)
        await asyncio.sleep(0.02)


def dominant(packets: list[RtpPacket]) -> float:
    decoder = OpusDecoder()
    ordered = sorted(packets, key=lambda p: p.sequence_number)[-100:]  # the last 2 s
    pcm = np.concatenate([decoder.decode(p.payload) for p in ordered]).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(pcm * np.hanning(len(pcm))))
    return float(np.argmax(spectrum) * RATE / len(pcm))


def address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


async def test_an_srtp_app_hears_alice_and_is_heard_with_the_key_it_was_given(rtp_scene: Scene) -> None:
    _, call_id = await active_call(rtp_scene, say=f"tone:{ALICE}")
    rtp = await to_thread(open_rtp, rtp_scene, call_id, SRTP=True)
    assert rtp["SRTP"]["Suite"] == "AES_CM_128_HMAC_SHA1_80"
    assert (
        " RTP/SAVP 111" in rtp["SDP"]
        and f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{rtp['SRTP']['Key']}" in rtp["SDP"]
    )
    key = base64.b64decode(rtp["SRTP"]["Key"])
    gateway = address(rtp["LocalAddress"])
    async with peer(Srtp(key)) as app, peer(Srtp(new_key())) as intruder, peer() as stranger:
        # Before the app speaks, garbage and a wrongly keyed packet: dropped and counted, nothing latched.
        intruder.send(RtpPacket(payload_type=111, sequence_number=1, ssrc=7, payload=b"x" * 40).serialize(), gateway)
        assert stranger.transport is not None
        stranger.transport.sendto(b"\x00" * 3, gateway)
        talking = asyncio.create_task(speak(app, gateway, APP, 9))
        try:
            await alice_hears(rtp_scene, call_id, APP)
            await wait_for(lambda: len(app.audio) > 150, within=10, what="the app to receive 3 s of audio")
            assert dominant(app.audio) == pytest.approx(ALICE, abs=5)
            # The app reports on what it receives, on its RTP socket; the gateway's reports come back there.
            last = max(p.sequence_number for p in app.audio)
            report = RtcpRrPacket(ssrc=0x1234, reports=[RtcpReceiverInfo(app.audio[0].ssrc, 0, 0, last, 160, 0, 0)])
            app.send(bytes(report), gateway, rtcp=True)
            stranger.transport.sendto(RtpPacket(payload_type=111, payload=b"y" * 20).serialize(), gateway)
            await wait_for(lambda: app.reports, within=8, what="an RTCP report from the gateway")
        finally:
            talking.cancel()
    assert app.unreadable == 0 and intruder.audio == [] and stranger.audio == []
    stats = (await to_thread(call_stats, rtp_scene, call_id))["endpoints"]["rtp"]
    counts = stats["rtp"]
    assert counts["srtp"] is True and counts["latched"] is True and counts["remote"].startswith("127.0.0.1:")
    assert counts["srtp_failed"] >= 2 and counts["wrong_source"] >= 1, counts  # garbage fails SRTP's check first
    assert counts["rtcp"]["reports_received"] >= 1 and counts["rtcp"]["reported"]["jitter_ms"] == pytest.approx(3.33)
    assert counts["rtcp"]["received"]["packets_lost"] == 0
    assert stats["inbound"]["decoded"] == 0 and stats["outbound"]["encoded"] == 0  # SRTP costs no transcoding


async def test_without_remote_address_the_first_valid_source_is_latched_and_others_dropped(rtp_scene: Scene) -> None:
    _, call_id = await active_call(rtp_scene, say=f"tone:{ALICE}")
    rtp = await to_thread(open_rtp, rtp_scene, call_id, Codec="opus")
    assert "m=audio " + rtp["LocalAddress"].rpartition(":")[2] in rtp["SDP"]  # no RemoteAddress: the gateway's side
    gateway = address(rtp["LocalAddress"])
    async with peer() as app, peer() as other:
        assert app.transport is not None and other.transport is not None
        for junk in (b"", b"\x80", b"\x80\x6f\x00", bytes(range(256)), b"\x40" * 30):
            app.transport.sendto(junk, gateway)  # garbage never latches
        talking = asyncio.create_task(speak(app, gateway, APP, 6))
        try:
            await alice_hears(rtp_scene, call_id, APP)
            bother = asyncio.create_task(speak(other, gateway, 880, 1, ssrc=99))
            await bother
            await wait_for(lambda: len(app.audio) > 100, within=5, what="the latched app to receive audio")
            assert other.audio == [] and dominant(app.audio) == pytest.approx(ALICE, abs=5)
        finally:
            talking.cancel()
    counts = (await to_thread(call_stats, rtp_scene, call_id))["endpoints"]["rtp"]["rtp"]
    assert counts["invalid"] >= 4 and counts["wrong_source"] >= 40, counts
    assert counts["remote"] == f"127.0.0.1:{app.transport.get_extra_info('sockname')[1]}", counts
