"""Key presses from the far end (RFC 4733): one per event, in order, none forwarded as audio."""

from __future__ import annotations

import asyncio

import pytest
from aiortc import RTCPeerConnection

from callbridge.media import aiortc_fixes, dtmf
from callbridge.media.dtmf import DtmfReceiver, KeyPress
from callbridge.media.ice import IceSettings
from callbridge.media.jitter import JitterBuffer
from callbridge.media.opus import OpusFrame
from callbridge.media.whatsapp_leg import WhatsAppLeg


def event(key: int, duration: int, end: bool = False) -> bytes:
    """An RFC 4733 payload: event, E bit and volume, duration in timestamp units."""
    return bytes([key, (0x80 if end else 0) | 10]) + duration.to_bytes(2, "big")


def press(receiver: DtmfReceiver, timestamp: int, key: int, ends: int = 3) -> None:
    """As a sender does it (RFC 4733 §2.5): updates every 20 ms, then the end packet three times."""
    for duration in (160, 320, 480, 640, 800):
        receiver.on_packet(timestamp, event(key, duration))
    for _ in range(ends):
        receiver.on_packet(timestamp, event(key, 1280, end=True))


async def test_each_press_is_reported_once_with_its_duration() -> None:
    keys: list[KeyPress] = []
    receiver = DtmfReceiver(keys.append)
    for timestamp, key in ((1000, 1), (9000, 2), (17000, 11), (25000, 10)):
        press(receiver, timestamp, key)
    receiver.on_packet(25000, event(10, 1280, end=True))  # a late repeat of an end already seen
    assert keys == [KeyPress("1", 160), KeyPress("2", 160), KeyPress("#", 160), KeyPress("*", 160)]
    receiver.close()


async def test_a_press_whose_end_packets_are_all_lost_is_still_reported() -> None:
    keys: list[KeyPress] = []
    receiver = DtmfReceiver(keys.append, clock_rate=48000)
    press(receiver, 1000, 5, ends=0)
    assert keys == []
    press(receiver, 60000, 6)  # the next key begins: the first one is over
    assert keys == [KeyPress("5", 17), KeyPress("6", 27)]
    receiver.close()


async def test_a_last_press_without_end_is_reported_after_a_while(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dtmf, "LOST_END_AFTER", 0.05)
    keys: list[KeyPress] = []
    receiver = DtmfReceiver(keys.append)
    press(receiver, 1000, 9, ends=0)
    await asyncio.sleep(0.15)
    assert keys == [KeyPress("9", 100)]
    receiver.close()


async def test_events_that_are_not_keys_and_short_payloads_are_ignored() -> None:
    keys: list[KeyPress] = []
    receiver = DtmfReceiver(keys.append)
    receiver.on_packet(1000, event(16, 800, end=True))  # 16+: tones and line events, not keys
    receiver.on_packet(2000, b"\x01\x80")
    assert keys == []


async def test_a_telephone_event_takes_its_sequence_number_without_being_waited_for() -> None:
    released: list[int] = []
    buffer = JitterBuffer(lambda frame: released.append(frame.timestamp), loss_timeout=10)
    buffer.add(1, OpusFrame(960, b"a"))
    buffer.skip(2)  # the telephone event between two audio packets
    buffer.add(3, OpusFrame(1920, b"b"))
    assert released == [960, 1920]  # in order, at once: no 10 s wait for packet 2
    assert buffer.stats.lost == 0 and buffer.stats.received == 2
    buffer.close()


async def test_answers_keep_the_far_ends_telephone_event() -> None:
    aiortc_fixes.install()
    caller = RTCPeerConnection()
    caller.addTransceiver("audio", direction="sendrecv")
    await caller.setLocalDescription(await caller.createOffer())
    offer = caller.localDescription.sdp
    assert "telephone-event/8000" in offer  # we offer it too, after the audio codecs
    leg = WhatsAppLeg(IceSettings.parse(None, "127.0.0.1"))
    try:
        answer = await leg.answer(offer)
        audio_codecs = [line for line in answer.splitlines() if line.startswith("a=rtpmap:")]
        assert "opus/48000" in audio_codecs[0] and any("telephone-event/8000" in line for line in audio_codecs)
    finally:
        await leg.close()
        await caller.close()
