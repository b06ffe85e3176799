"""The passthrough lane (media/inbound.py ``Lane``): a voice the router sends straight to one output forwards each
in-order packet's fields to it, with no frame made and no fan-out; everything else takes the generic way, with the
same figures (jitter buffer statistics, outbound counts) and the same frames sent."""

from __future__ import annotations

from typing import Any

from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from callbridge.emulator.audio import tone
from callbridge.media import g711
from callbridge.media.endpoint import Role
from callbridge.media.inbound import InboundAudio
from callbridge.media.opus import SILENCE, OpusFrame
from callbridge.media.outbound import OutboundAudio
from callbridge.media.router import Router
from callbridge.media.routing import WHATSAPP, Member, Scene, route
from callbridge.media.rtp_transcode import G711Inbound

A, S = "a", "s"
AGENT = Member(A, Role.TALK)
SUPERVISOR = Member(S, Role.LISTEN)
OPUS_PT, EVENT_PT = 111, 101


class Receiver:
    """Just what the inbound reads of an aiortc receiver: the negotiated codecs (for telephone events)."""

    def __init__(self) -> None:
        codecs = {
            OPUS_PT: RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=OPUS_PT),
            EVENT_PT: RTCRtpCodecParameters(mimeType="audio/telephone-event", clockRate=8000, payloadType=EVENT_PT),
        }
        vars(self)["_RTCRtpReceiver__codecs"] = codecs


class Sent(OutboundAudio):
    """An attached output (as on the lean path) that keeps what it sends, and notes frames pushed to it."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[bytes, int]] = []
        self.pushed = 0
        self.attach(lambda payload, pts: self.sent.append((payload, pts)))

    def push(self, frame: OpusFrame, mixed: bool = False) -> None:
        self.pushed += 1
        super().push(frame, mixed)


def packet(
    inbound: InboundAudio, seq: int, payload_type: int = OPUS_PT, level: Any = None, payload: bytes = b""
) -> None:
    inbound.on_rtp(payload_type, seq, seq * 960, payload or bytes([seq & 0xFF]), level, 100.0 + seq * 0.02)


async def hang_up(router: Router, voice: InboundAudio, outputs: dict[str, Sent]) -> None:
    for output in outputs.values():
        output.stop()
    voice.close()
    await router.close()


async def plain_call() -> tuple[Router, InboundAudio, dict[str, Sent]]:
    router = Router()
    user, agent = InboundAudio(Receiver()), InboundAudio()  # type: ignore[arg-type]  # a stand-in receiver
    router.listen(WHATSAPP, user)
    router.listen(A, agent)
    outputs = {WHATSAPP: Sent(), A: Sent(), S: Sent()}
    router.apply(route(Scene([AGENT])), {**outputs})
    return router, user, outputs


async def test_a_plain_calls_in_order_packets_take_the_lane_and_count_as_the_generic_way_does() -> None:
    router, user, outputs = await plain_call()
    assert user.lane is not None and user.lane.sink is user.sinks[0]
    for seq in range(10, 15):
        packet(user, seq)
    agent = outputs[A]
    assert agent.pushed == 1  # the first packet (where the sequence starts) only: the lane forwarded the rest
    assert [payload for payload, _ in agent.sent] == [bytes([seq]) for seq in range(10, 15)]
    assert all(b - a == 960 for (_, a), (_, b) in zip(agent.sent, agent.sent[1:], strict=False))
    assert agent.counts["forwarded"] == 5
    stats = user.buffer.stats
    assert (stats.received, stats.released, stats.lost, stats.late) == (5, 5, 0, 0)
    assert list(stats.recent_hold_ms) == [0.0] * 5
    assert user.jitter.samples.seen == 4 and user.last_heard == 100.0 + 14 * 0.02
    await hang_up(router, user, outputs)


async def test_reordered_packets_are_held_and_telephone_events_consumed_off_the_lane() -> None:
    router, user, outputs = await plain_call()
    user.buffer.loss_timeout = 10  # held packets wait for their gap, not for a timer
    packet(user, 1)
    packet(user, 3)  # 2 is late: 3 is held
    assert [payload for payload, _ in outputs[A].sent] == [b"\x01"]
    packet(user, 2)  # the gap filled: 2 and 3 go, in order, the generic way
    packet(user, 4, EVENT_PT)  # a key press: it takes its sequence number, nothing is forwarded
    packet(user, 5)  # back on the lane
    assert [payload for payload, _ in outputs[A].sent] == [b"\x01", b"\x02", b"\x03", b"\x05"]
    assert outputs[A].pushed == 3 and outputs[A].counts["forwarded"] == 4  # 5 took the lane
    stats = user.buffer.stats
    assert (stats.received, stats.released, stats.reordered, stats.lost) == (4, 4, 1, 0)
    assert stats.depth_max == 2 and len(stats.recent_hold_ms) == 4  # 3 waited for 2, with 2 behind it
    await hang_up(router, user, outputs)


async def test_the_lane_is_left_while_a_listener_a_second_sink_or_a_level_meter_needs_the_frames() -> None:
    router, user, outputs = await plain_call()
    packet(user, 1)  # the first packet: the generic way, where the sequence starts
    packet(user, 2)
    assert outputs[A].pushed == 1
    router.apply(route(Scene([AGENT, SUPERVISOR])), {**outputs})  # the supervisor hears a mix: decoded
    assert user.lane is None
    packet(user, 3, payload=SILENCE)
    assert outputs[A].pushed == 2 and router.decoded[WHATSAPP] == 1
    router.apply(route(Scene([AGENT])), {**outputs})  # the supervisor left: back on the lane
    assert user.lane is not None
    packet(user, 4)
    assert outputs[A].pushed == 2
    heard: list[OpusFrame] = []
    user.sinks.append(heard.append)  # someone else takes the frames too: the generic fan-out
    packet(user, 5)
    assert outputs[A].pushed == 3 and [f.payload for f in heard] == [b"\x05"]
    user.sinks.remove(heard.append)
    user.decode_levels = True  # a meter watches and the sender sends no levels: the frames are decoded
    packet(user, 6, payload=SILENCE)
    assert outputs[A].pushed == 4 and user.decoded == 1
    packet(user, 7, level=(True, 30))  # the sender's own levels: nothing to decode, the lane again
    packet(user, 8)
    assert outputs[A].pushed == 4 and user.level == -30.0 and user.decoded == 1
    assert outputs[A].counts["forwarded"] == 8 and user.buffer.stats.released == 8
    await hang_up(router, user, outputs)


async def test_a_failing_output_leaves_the_sinks_as_the_generic_way_does() -> None:
    router, user, outputs = await plain_call()

    def broken(payload: bytes, pts: int) -> None:
        raise RuntimeError("send failed")

    packet(user, 1)  # the first packet: the generic way
    outputs[A]._send = broken
    packet(user, 2)  # on the lane: it fails, and the sink goes
    assert user.sinks == [] and user.buffer.stats.released == 2
    packet(user, 3)  # nothing left to hear it
    assert user.buffer.stats.released == 3
    await hang_up(router, user, outputs)


async def test_an_inbound_that_makes_its_own_frames_never_takes_the_lane() -> None:
    """A G.711 app's voice sent straight to WhatsApp is Opus made from its packets, never the packets themselves."""
    router = Router()
    app = G711Inbound("pcmu")
    router.listen(A, app)
    outputs = {WHATSAPP: Sent(), A: Sent()}
    router.apply(route(Scene([AGENT])), {**outputs})
    assert app.sinks == [outputs[WHATSAPP].push] and app.lane is None
    codes = g711.encode(tone(660, 0.2, rate=8000), "pcmu")
    for i in range(10):
        app.on_rtp(0, i, i * 160, codes[i * 160 : (i + 1) * 160], None, 100.0 + i * 0.02)
    sent = outputs[WHATSAPP].sent
    assert outputs[WHATSAPP].pushed == len(sent) == app.encoded >= 8  # Opus frames, each pushed
    assert all(len(payload) != 160 for payload, _ in sent)
    await hang_up(router, app, outputs)
