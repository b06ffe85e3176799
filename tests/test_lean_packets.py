"""The lean path's packet arithmetic against the libraries it stands in for: SRTP done in place agrees with
pylibsrtp's own calls both ways and refuses what they refuse, and our reception statistics count and time a
stream as aiortc's ``StreamStatistics`` does (so receiver reports say the same)."""

from __future__ import annotations

import os
import random

import pylibsrtp
import pytest
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import RtpPacket

from callbridge.media.lean.rtp_writer import RtpWriter
from callbridge.media.lean.srtp import InPlaceSrtp
from callbridge.media.rtp_reception import Reception
from tests.test_lean_units import srtp_pair

PROFILES = [pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80, pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM]


def packet(seq: int, payload: bytes) -> bytes:
    return RtpPacket(payload_type=111, sequence_number=seq, timestamp=seq * 960, ssrc=7, payload=payload).serialize()


@pytest.mark.parametrize("profile", PROFILES, ids=["aes-cm", "aes-gcm"])
def test_srtp_in_place_agrees_with_pylibsrtp_both_ways(profile: int) -> None:
    sender, receiver = srtp_pair(profile)
    ours_in = InPlaceSrtp(receiver)
    for seq in range(1, 40):
        plain = packet(seq, os.urandom(random.randint(1, 300)))
        size = ours_in.unprotect(sender.protect(plain))
        assert ours_in.view[:size].tobytes() == plain

    sender2, theirs_in = srtp_pair(profile)
    ours_out = InPlaceSrtp(sender2)
    writer = RtpWriter(ssrc=9, payload_type=111)
    for n in range(40):
        payload = os.urandom(random.randint(1, 300))
        size = ours_out.protect(writer.write_into(ours_out.view, payload, n * 960))
        assert RtpPacket.parse(theirs_in.unprotect(ours_out.view[:size].tobytes())).payload == payload


def test_srtp_in_place_refuses_forgeries_replays_and_oversized_packets() -> None:
    sender, receiver = srtp_pair(PROFILES[0])
    ours = InPlaceSrtp(receiver)
    good = sender.protect(packet(5, b"voice"))
    forged = good[:-1] + bytes([good[-1] ^ 1])
    with pytest.raises(pylibsrtp.Error, match="authentication"):
        ours.unprotect(forged)
    ours.unprotect(good)
    with pytest.raises(pylibsrtp.Error, match="replay"):
        ours.unprotect(good)
    with pytest.raises(ValueError):
        ours.unprotect(bytes(2000))
    with pytest.raises(ValueError):
        ours.protect(1600)


def test_reception_counts_and_times_a_stream_as_aiortc_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loss, reordering, a duplicate, sequence number wrap-around, jittery arrivals."""
    rng = random.Random(3)
    seqs = [(65500 + i) & 0xFFFF for i in range(120)]
    del seqs[10], seqs[40:43]  # lost
    seqs[20], seqs[21] = seqs[21], seqs[20]  # reordered
    seqs.insert(30, seqs[29])  # repeated
    ours, theirs = Reception(48000), StreamStatistics(48000)
    clock = [1000.0]
    monkeypatch.setattr("aiortc.rtcrtpreceiver.time.time", lambda: clock[0])  # aiortc reads the wall clock
    fractions = []
    for n, seq in enumerate(seqs):
        clock[0] += 0.02 + rng.uniform(-0.004, 0.004)
        timestamp = 0x10000 + ((seq - 65500) & 0xFFFF) * 960
        ours.add(seq, timestamp, clock[0])
        theirs.add(RtpPacket(payload_type=111, sequence_number=seq, timestamp=timestamp, ssrc=1))
        if n % 25 == 24:
            fractions.append((ours.fraction_lost(), theirs.fraction_lost))
    assert (ours.max_seq, ours.cycles, ours.packets_received) == (
        theirs.max_seq,
        theirs.cycles,
        theirs.packets_received,
    )
    assert ours.packets_lost == theirs.packets_lost == 4 - 1  # four lost, one counted twice
    assert all(a == b for a, b in fractions) and any(a for a, _ in fractions)
    assert abs(ours.jitter - theirs.jitter) <= 2  # aiortc rounds arrivals to whole ticks; 1 tick = 1/48 ms
    assert ours.jitter > 0


def test_reception_jitter_is_unmoved_by_the_timestamp_wrapping_around() -> None:
    """aiortc's own estimate jumps to ~2^32/16 here; a steady stream's jitter stays zero across the wrap."""
    ours = Reception(48000)
    for n in range(100):
        ours.add(n, (0xFFFF0000 + n * 960) & 0xFFFFFFFF, 5.0 + n * 0.02)
    assert ours.jitter == 0 and ours.packets_lost == 0
