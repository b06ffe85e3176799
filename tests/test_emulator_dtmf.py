"""A virtual user presses keys: RFC 4733 telephone-events on the user's own RTP stream, on the payload type the
call's SDP agreed. Meta's "User-initiated calls" page, "Dual tone multi frequency (DTMF) support": events per
RFC 4733 on telephone-event/8000, same timestamp and sequence number bases as the audio, durations in 8000 Hz
units. Packet order per RFC 4733 §2.5: a start packet with the marker bit, updates, the end packet three times."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterator

import pytest
from aiortc import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from callbridge.emulator.dtmf import KeyPad, press_packets
from callbridge.testing import Emulator, Scene, wait_until
from tests.test_emulator_kit import Business, BusinessLeg, MetaSink, without_telephone_event

EXTENSIONS = HeaderExtensionsMap()
EXTENSIONS.configure(
    RTCRtpParameters(
        headerExtensions=[RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:sdes:mid")]
    )
)


def audio_packet(n: int) -> bytes:
    packet = RtpPacket(payload_type=111, sequence_number=1000 + n, timestamp=50_000 + 960 * n, ssrc=4242)
    packet.extensions.mid = "0"
    packet.payload = b"opus-frame-%d" % n
    return packet.serialize(EXTENSIONS)


def event(packet: RtpPacket) -> tuple[int, bool, int]:
    key, flags, duration = struct.unpack("!BBH", packet.payload)
    return key, bool(flags & 0x80), duration


def test_a_key_press_replaces_audio_packets_as_rfc_4733_says() -> None:
    keypad = KeyPad()
    keypad.payload_type = 126
    keypad.press("1#", 60)
    out = [RtpPacket.parse(keypad.rewrite(audio_packet(n)), EXTENSIONS) for n in range(20)]
    assert [p.sequence_number for p in out] == list(range(1000, 1020))  # one stream, no gap
    assert {p.ssrc for p in out} == {4242} and all(p.extensions.mid == "0" for p in out)
    kinds = "".join("e" if p.payload_type == 126 else "a" for p in out)
    # "1": start, update, end x3 (60 ms = 3 packets); audio between; then "#".
    assert kinds == "eeeee" + "aaaaa" + "eeeee" + "aaaaa"
    first, second = out[:5], out[10:15]
    assert [event(p) for p in first] == [
        (1, False, 160),
        (1, False, 320),
        (1, True, 480),
        (1, True, 480),
        (1, True, 480),
    ]
    assert [p.marker for p in first] == [1, 0, 0, 0, 0]
    assert {p.timestamp for p in first} == {50_000} and {p.timestamp for p in second} == {50_000 + 960 * 10}
    assert [event(p)[0] for p in second] == [11] * 5
    assert out[5].payload == b"opus-frame-5" and out[5].timestamp == 50_000 + 960 * 5  # the audio goes on
    assert keypad.sent == ["1", "#"] and not keypad.busy


def test_without_an_agreed_payload_type_nothing_is_rewritten() -> None:
    keypad = KeyPad()
    keypad.press("5", 100)
    assert keypad.rewrite(audio_packet(0)) == audio_packet(0)
    assert len(press_packets("5", 100)) == 5 + 2  # 5 packets of 20 ms, the last one sent three times


# ---- end to end ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sink() -> Iterator[MetaSink]:
    with MetaSink() as sink:
        yield sink


def test_the_user_presses_keys_and_the_gateway_reports_them(scene: Scene) -> None:
    """A user's call through the gateway, which agrees telephone-event; the app sees one CallDTMF per key."""
    ivan = scene.user(say="tone:440")
    call_id = scene.user_calls(ivan)
    scene.wait_event(call_id, "CallOffer")
    assert scene.post("/call/accept", {"CallID": call_id}).status_code == 200
    wait_until(lambda: scene.emulator.call(call_id)["heard"]["seconds"] > 0.5, what="media both ways")
    r = scene.emulator.client.post(f"/emulator/calls/{call_id}/dtmf", json={"digits": "12#", "duration_ms": 160})
    assert r.status_code == 200, r.text
    assert r.json()["payload_type"] == 126
    for digit in "12#":
        assert scene.wait_event(call_id, "CallDTMF", Digit=digit)["Duration"] == 160
    assert [e["Digit"] for e in scene.events(call_id, "CallDTMF")] == ["1", "2", "#"]
    wait_until(lambda: scene.emulator.call(call_id)["dtmf"]["sent"] == "12#", what="the user's keypad to finish")


def test_a_user_who_answers_with_keys_presses_them_then_stays_silent(scene: Scene) -> None:
    judy = scene.user(say="dtmf:0*9", answer_after_ms=0)
    call_id = scene.make_call(judy)
    for digit in "0*9":
        scene.wait_event(call_id, "CallDTMF", Digit=digit)
    # The gateway reports a key at its first end packet; the user's keypad is done after the third.
    wait_until(lambda: scene.emulator.call(call_id)["dtmf"] == {"payload_type": 126, "sent": "0*9"}, what="keypad")
    assert [e["Digit"] for e in scene.events(call_id, "CallDTMF")] == ["0", "*", "9"]
    scene.post("/call/end", {"CallID": call_id})


async def test_keys_go_only_on_a_payload_type_the_answer_accepted(emulator: Emulator, sink: MetaSink) -> None:
    business = Business(emulator, sink)
    kim = business.user()
    leg = BusinessLeg()
    try:
        call_id = (await asyncio.to_thread(business.user_calls, kim)).json()["call_id"]
        connect = await asyncio.to_thread(business.wait_webhook, lambda v: "calls" in v, "the connect webhook")
        answer = without_telephone_event(await leg.answer(connect["calls"][0]["session"]["sdp"]))
        assert (await asyncio.to_thread(business.answer, call_id, "accept", answer)).status_code == 200
        r = await asyncio.to_thread(emulator.client.post, f"/emulator/calls/{call_id}/dtmf", json={"digits": "1"})
        assert r.status_code == 409 and "telephone-event" in r.json()["error"]
        assert emulator.call(call_id)["dtmf"]["payload_type"] is None
    finally:
        await leg.close()


async def test_the_events_reach_the_business_on_the_users_stream(emulator: Emulator, sink: MetaSink) -> None:
    """Seen as a bare business stack sees them: PT 126 on the user's SSRC, timestamps of the audio's base."""
    business = Business(emulator, sink)
    lena = business.user(say="tone:440")
    leg = BusinessLeg()
    try:
        call_id = (await asyncio.to_thread(business.user_calls, lena)).json()["call_id"]
        connect = await asyncio.to_thread(business.wait_webhook, lambda v: "calls" in v, "the connect webhook")
        offer = connect["calls"][0]["session"]["sdp"]
        answer = await leg.answer(offer)
        if "telephone-event/8000" not in answer:  # a stack without it, told to accept Meta's 126
            opus = "a=rtpmap:111 opus/48000/2"
            answer = answer.replace(opus, f"{opus}\r\na=rtpmap:126 telephone-event/8000")
            answer = answer.replace("UDP/TLS/RTP/SAVPF 111", "UDP/TLS/RTP/SAVPF 111 126")
        assert (await asyncio.to_thread(business.answer, call_id, "accept", answer)).status_code == 200
        await asyncio.to_thread(wait_until, lambda: any(p.payload_type == 111 for p in leg.packets), 15, 0.1, "audio")
        r = await asyncio.to_thread(
            emulator.client.post,
            f"/emulator/calls/{call_id}/dtmf",
            content=b'{"digits": "7", "duration_ms": 100}',
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )  # the body as curl -d sends it: form-encoded content type, JSON text
        assert r.status_code == 200, r.text
        await asyncio.to_thread(
            wait_until, lambda: sum(p.payload_type == 126 for p in leg.packets) >= 7, 15, 0.1, "the key's packets"
        )
        events = [p for p in leg.packets if p.payload_type == 126]
        assert [event(p) for p in events] == [(7, False, 160 * n) for n in range(1, 5)] + [(7, True, 800)] * 3
        assert events[0].marker == 1 and len({p.timestamp for p in events}) == 1
        first = leg.packets.index(events[0])
        before = [p for p in leg.packets[:first] if p.payload_type == 111]
        assert {p.ssrc for p in events} == {before[-1].ssrc}
        assert before[-1].timestamp < events[0].timestamp <= before[-1].timestamp + 960  # the audio's clock
        last = leg.packets.index(events[-1])
        await asyncio.to_thread(
            wait_until, lambda: any(p.payload_type == 111 for p in leg.packets[last:]), 15, 0.1, "audio after the key"
        )
        await asyncio.to_thread(business.calls, {"call_id": call_id, "action": "terminate"})
    finally:
        await leg.close()
