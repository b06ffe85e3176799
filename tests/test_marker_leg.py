"""The benchmarks' marker peers on the lean path (bench/marker_leg.py): real aiortc peers on loopback, each sending
its marked loop on its own 20 ms schedule and timing the other's markers, with each other and with the emulator's
own aiortc-sent markers; the loss they are told to simulate reaches the other side as gaps in the sequence, as a
network's would."""

from __future__ import annotations

import asyncio
from functools import partial

import aioice.ice
from aiortc import RTCConfiguration, RTCPeerConnection

from bench.marker_leg import INTERVAL, MarkerLeg, MarkerSender
from callbridge.emulator.markers import PERIOD_FRAMES, MarkerTap, TrackMarkers, encoded_loop, latencies


async def connected(loss: float = 0.0) -> tuple[list[RTCPeerConnection], MarkerLeg, MarkerLeg]:
    a, b = peers()
    leg_a = MarkerLeg(a.addTransceiver("audio", direction="sendrecv"), 2000.0, 3000.0, loss=lambda: loss)
    leg_b = MarkerLeg(b.addTransceiver("audio", direction="sendrecv"), 3000.0, 2000.0)
    await connect(a, b)
    return [a, b], leg_a, leg_b


def peers() -> tuple[RTCPeerConnection, RTCPeerConnection]:
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
    return RTCPeerConnection(RTCConfiguration(iceServers=[])), RTCPeerConnection(RTCConfiguration(iceServers=[]))


async def connect(a: RTCPeerConnection, b: RTCPeerConnection) -> None:
    await a.setLocalDescription(await a.createOffer())
    await b.setRemoteDescription(a.localDescription)
    await b.setLocalDescription(await b.createAnswer())
    await a.setRemoteDescription(b.localDescription)


async def test_marker_peers_time_each_others_markers_over_srtp() -> None:
    pcs, a, b = await connected()
    try:
        await asyncio.sleep(1.6)
        for leg, other in ((a, b), (b, a)):
            assert len(leg.sender.sent) >= 2  # a marker every 0.5 s
            assert leg.sender.frames >= 60  # ~20 ms apart since DTLS connected
            assert len(other.tap.received) >= 2  # the other side's markers, spotted
            assert len(other.tap.arrivals) >= 60 and len(other.tap.late) <= 3  # a busy machine may stall a frame
            assert other.path.counts["srtp_failed"] == 0 and other.path.counts["received"] >= 60
        # Each marker is spotted just after it left (loopback, nothing in between), once both sides are up.
        sent, received = a.sender.sent, b.tap.received
        delays = latencies(sent, received, (sent[0], sent[-1]))
        assert len(delays) >= len(sent) - 2 and max(delays) < 0.05
    finally:
        a.close()
        b.close()
        await asyncio.gather(*(pc.close() for pc in pcs))


async def test_a_lean_marker_peer_and_an_aiortc_one_time_each_other() -> None:
    """The emulator's users mark on aiortc's own sender unless the bench makes them lean: the two interwork."""
    a, b = peers()
    aiortc_side = TrackMarkers(a, 2000.0, 3000.0)
    lean_side = MarkerLeg.joining(b, 3000.0, 2000.0)
    await connect(a, b)
    try:
        await asyncio.sleep(1.6)
        assert len(lean_side.tap.received) >= 2 and len(aiortc_side.tap.received) >= 2
        assert lean_side.path.counts["srtp_failed"] == 0 and len(lean_side.tap.late) + len(aiortc_side.tap.late) <= 3
    finally:
        aiortc_side.close()
        lean_side.close()
        await asyncio.gather(a.close(), b.close())


async def test_simulated_loss_shows_as_gaps_in_the_sequence() -> None:
    pcs, a, b = await connected(loss=0.3)
    try:
        await asyncio.sleep(1.5)
        reception = b.path.rtcp.reception if b.path.rtcp is not None else None
        assert reception is not None
        assert 0.15 < reception.packets_lost / reception.packets_expected < 0.45
        assert a.sender.frames >= 60  # the loop goes on; some of its frames never arrive
    finally:
        a.close()
        b.close()
        await asyncio.gather(*(pc.close() for pc in pcs))


def record(timestamps: list[int], payload: bytes, pts: int) -> None:
    timestamps.append(pts)


async def test_one_clock_serves_every_sender_on_its_own_schedule() -> None:
    sent: dict[str, list[int]] = {"early": [], "late": []}
    senders = {name: MarkerSender(encoded_loop(2000.0)) for name in sent}
    for name, sender in senders.items():
        sender.attach(partial(record, sent[name]))
        await asyncio.sleep(INTERVAL / 2)  # the second starts half a frame later
    await asyncio.sleep(0.2)
    senders["early"].detach()
    await asyncio.sleep(0.1)
    assert sent["early"][:3] == [0, 960, 1920]  # 20 ms of 48 kHz a frame, from each one's own start
    assert 8 <= len(sent["early"]) <= 25  # ~0.2 s of frames (more if the loop ran late: it catches up)
    assert len(sent["late"]) > len(sent["early"]) + 3  # the other goes on after one detaches
    assert senders["early"].sent and len(senders["early"].sent) == 1 + (len(sent["early"]) - 1) // PERIOD_FRAMES


def test_the_listener_knows_the_loop_it_expects_without_decoding() -> None:
    tap = MarkerTap(None, 2000.0)
    loop = encoded_loop(2000.0)
    for i, packet in enumerate(loop * 2):
        tap.heard(i * 960, packet)
    assert len(tap.received) == 2  # one onset per loop
    other = MarkerTap(None, 2000.0)
    for i, packet in enumerate(encoded_loop(2000.0, 660.0) * 2):  # another tone: decoded, still spotted
        other.heard(i * 960, packet)
    assert len(other.received) == 2
