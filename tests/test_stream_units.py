"""The voice-bot stream's pieces on their own: G.711 μ-law and L16, resampling, Twilio's messages
(https://www.twilio.com/docs/voice/media-streams/websocket-messages), the play queue with its marks, clear and
bound, and the endpoint against a bot socket without a call."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.server import ServerConnection, serve

from callbridge.emulator.audio import analyse, tone
from callbridge.media import stream_protocol as protocol
from callbridge.media.endpoint import Role
from callbridge.media.opus import FRAME_SAMPLES, RATE, OpusDecoder, OpusFrame
from callbridge.media.stream_codec import FORMATS, NotWholeSamples, Resampler, ulaw_decode, ulaw_encode
from callbridge.media.stream_endpoint import StreamEndpoint
from callbridge.media.stream_pacer import PREBUFFER, SETTLE, PlayQueue
from tests.support.browser import wait_for

# ---- codec -----------------------------------------------------------------------------------------------------------


def test_ulaw_matches_g711_reference_points() -> None:
    # G.711's table (FFmpeg's, as the RTP endpoint's PCMU): 0 → 0xFF, full scale → 0x80 / 0x00; decoding the
    # extremes gives ±32124.
    assert ulaw_encode(np.array([0, 32767, -32768], dtype=np.int16)) == bytes([0xFF, 0x80, 0x00])
    assert list(ulaw_decode(bytes([0xFF, 0x7F, 0x80, 0x00]))) == [0, 0, 32124, -32124]
    everything = ulaw_decode(bytes(range(256)))
    assert ulaw_encode(everything) == bytes(b if b != 0x7F else 0xFF for b in range(256))  # -0 is +0


def test_ulaw_round_trip_keeps_a_tone() -> None:
    x = tone(440, 1.0, rate=8000)
    y = ulaw_decode(ulaw_encode(x))
    assert np.max(np.abs(y.astype(int) - x)) < 400
    assert analyse(y, rate=8000)["dominant_hz"] == pytest.approx(440, abs=2)


def test_l16_is_little_endian_and_needs_whole_samples() -> None:
    fmt = FORMATS["l16-16k"]
    assert fmt.encode(np.array([1, -2], dtype=np.int16)) == b"\x01\x00\xfe\xff"
    assert list(fmt.decode(b"\x01\x00\xfe\xff")) == [1, -2]
    with pytest.raises(NotWholeSamples):
        fmt.decode(b"\x01\x00\xfe")
    assert (fmt.frame_samples, FORMATS["twilio"].frame_samples, FORMATS["l16-24k"].frame_samples) == (320, 160, 480)
    assert FORMATS["twilio"].silence(160) == b"\xff" * 160


@pytest.mark.parametrize("rate", [8000, 16000, 24000])
def test_resampling_both_ways_keeps_pitch_and_length(rate: int) -> None:
    up, down = Resampler(rate, RATE), Resampler(RATE, rate)
    source = tone(660, 1.0, rate=rate)
    chunk = rate // 25  # 40 ms
    high = np.concatenate([up.convert(source[i : i + chunk]) for i in range(0, len(source), chunk)])
    assert abs(len(high) - RATE) < 200
    assert analyse(high, rate=RATE)["dominant_hz"] == pytest.approx(660, abs=3)
    low = np.concatenate([down.convert(high[i : i + FRAME_SAMPLES]) for i in range(0, len(high), FRAME_SAMPLES)])
    assert abs(len(low) - rate) < 100
    assert analyse(low, rate=rate)["dominant_hz"] == pytest.approx(660, abs=3)


# ---- protocol --------------------------------------------------------------------------------------------------------


def info(**changes: Any) -> protocol.StreamInfo:
    fields: dict[str, Any] = {
        "account_sid": "AC" + "0" * 32,
        "stream_sid": "MZ" + "1" * 32,
        "call_sid": "wacid.X",
        "tracks": ["inbound"],
        "fmt": FORMATS["twilio"],
        "custom_parameters": {"a": "b"},
    }
    return protocol.StreamInfo(**{**fields, **changes})


def test_messages_have_twilios_fields_in_twilios_order() -> None:
    i = info()
    assert json.dumps(protocol.connected()) == '{"event": "connected", "protocol": "Call", "version": "1.0.0"}'
    start = protocol.start(1, i)
    assert start == {
        "event": "start",
        "sequenceNumber": "1",
        "start": {
            "accountSid": i.account_sid,
            "streamSid": i.stream_sid,
            "callSid": "wacid.X",
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": {"a": "b"},
        },
        "streamSid": i.stream_sid,
    }
    assert list(start) == ["event", "sequenceNumber", "start", "streamSid"]
    media = protocol.media(2, i.stream_sid, "inbound", 1, 0, b"\xff\xff")
    assert media["media"] == {"track": "inbound", "chunk": "1", "timestamp": "0", "payload": "//8="}
    assert list(media) == ["event", "sequenceNumber", "media", "streamSid"]
    assert protocol.dtmf(3, i.stream_sid, "#")["dtmf"] == {"track": "inbound_track", "digit": "#"}
    assert protocol.mark(4, i.stream_sid, "x") == {
        "event": "mark",
        "sequenceNumber": "4",
        "streamSid": i.stream_sid,
        "mark": {"name": "x"},
    }
    assert protocol.stop(5, i)["stop"] == {"accountSid": i.account_sid, "callSid": "wacid.X"}
    sid = protocol.new_stream_sid()
    assert sid.startswith("MZ") and len(sid) == 34 and sid != protocol.new_stream_sid()


def test_parsing_what_bots_send() -> None:
    payload = base64.b64encode(b"\x01\x02").decode()
    assert protocol.parse(json.dumps({"event": "media", "media": {"payload": payload}})) == protocol.Media(b"\x01\x02")
    assert protocol.parse('{"event":"mark","streamSid":"MZ1","mark":{"name":"n"}}') == protocol.Mark("n")
    assert protocol.parse(b'{"event":"clear"}') == protocol.Clear()
    bad: dict[str | bytes, str] = {
        "nope": "bad_json",
        "[]": "bad_json",
        b"\xff\xfe": "bad_json",
        '{"event":"media"}': "bad_media",
        '{"event":"media","media":{"payload":5}}': "bad_media",
        '{"event":"media","media":{"payload":"a b"}}': "bad_base64",
        '{"event":"mark","mark":{"name":7}}': "bad_mark",
        '{"event":"mark"}': "bad_mark",
        '{"event":"start"}': "unknown_event",
        "{}": "unknown_event",
    }
    for raw, kind in bad.items():
        with pytest.raises(protocol.BadMessage) as caught:
            protocol.parse(raw)
        assert caught.value.kind == kind, raw


# ---- the play queue --------------------------------------------------------------------------------------------------


def frames(n: float) -> np.ndarray:
    return np.ones(int(n * FRAME_SAMPLES), dtype=np.int16)


def test_marks_are_due_once_the_audio_before_them_is_taken() -> None:
    q = PlayQueue()
    q.add_mark("first")  # nothing before it: due at the next tick
    q.add_audio(frames(2.5), now=0)
    q.add_mark("after-2.5")
    q.add_audio(frames(1), now=0)
    taken = q.take(now=0)
    assert taken.marks == ["first"] and taken.pcm is not None and taken.pcm.size == FRAME_SAMPLES
    assert q.take(now=0).marks == []
    third = q.take(now=0)  # half a frame before the mark, half after: due once this frame is played
    assert third.marks == ["after-2.5"] and third.pcm is not None and third.pcm.size == FRAME_SAMPLES
    last = q.take(now=0)
    assert last.pcm is not None and list(last.pcm[FRAME_SAMPLES // 2 :]) == [0] * (FRAME_SAMPLES // 2)  # padded
    assert q.take(now=0).pcm is None and q.samples == 0


def test_a_talkspurt_waits_for_40_ms_or_for_the_bot_to_pause() -> None:
    q = PlayQueue()
    q.add_audio(frames(1), now=10.0)
    assert q.take(now=10.0).pcm is None  # less than the cushion, and the bot may be sending more
    assert q.take(now=10.0 + SETTLE + 0.001).pcm is not None  # it paused: play what there is
    q.add_audio(np.ones(PREBUFFER, dtype=np.int16), now=20.0)
    assert q.take(now=20.0).pcm is not None


def test_clear_empties_the_queue_and_returns_the_waiting_marks() -> None:
    q = PlayQueue()
    q.add_audio(frames(500), now=0)
    q.add_mark("a")
    q.add_audio(frames(10), now=0)
    q.add_mark("b")
    assert q.clear() == ["a", "b"]
    assert q.samples == 0 and q.take(now=1).pcm is None


def test_the_queue_keeps_120_s_and_drops_the_oldest_beyond() -> None:
    q = PlayQueue()
    second = np.ones(RATE, dtype=np.int16)
    for i in range(125):
        q.add_audio(second * (i + 1), now=0)
    assert q.seconds == 120 and q.dropped_samples == 5 * RATE
    taken = q.take(now=0).pcm
    assert taken is not None and taken[0] == 6  # the first five seconds went


# ---- the endpoint, against a bot socket --------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.got: list[dict[str, Any]] = []
        self.ws: ServerConnection | None = None
        self.ready = asyncio.Event()

    async def handler(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.ready.set()
        async for raw in ws:
            self.got.append(json.loads(raw))

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.got if m["event"] == kind]


@pytest.fixture
async def bot() -> AsyncIterator[tuple[Recorder, str]]:
    recorder = Recorder()
    async with serve(recorder.handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield recorder, f"ws://127.0.0.1:{port}"


async def until(check: Any, within: float = 3.0) -> None:
    await wait_for(check, within=within, what="the bot's messages")


async def test_the_endpoint_plays_the_bot_paced_and_hands_opus_frames_on(bot: tuple[Recorder, str]) -> None:
    recorder, url = bot
    endpoint = StreamEndpoint(info(tracks=["inbound", "outbound"]), url, Role.TALK)
    delivered: list[tuple[float, OpusFrame]] = []
    loop = asyncio.get_running_loop()
    endpoint.inbound.sinks.append(lambda frame: delivered.append((loop.time(), frame)))
    attached: list[str] = []
    endpoint.on_connected = lambda e: attached.append(e.id)
    endpoint.start()
    try:
        await until(lambda: recorder.events("start"))
        assert attached == [endpoint.id] and endpoint.connected
        assert recorder.ws is not None
        audio = ulaw_encode(tone(660, 1.0, rate=8000))
        for i in range(0, len(audio), 320):
            payload = base64.b64encode(audio[i : i + 320]).decode()
            await recorder.ws.send(json.dumps({"event": "media", "media": {"payload": payload}}))
        await recorder.ws.send('{"event":"mark","mark":{"name":"done"}}')
        await until(lambda: recorder.events("mark"), within=3)
        assert 49 <= len(delivered) <= 51, len(delivered)
        span = delivered[-1][0] - delivered[0][0]
        assert 0.9 <= span <= 1.3, span  # paced in real time, not as fast as it came
        stamps = [f.timestamp for _, f in delivered]
        assert all(b - a == FRAME_SAMPLES for a, b in itertools.pairwise(stamps))
        decoder = OpusDecoder()
        pcm = np.concatenate([decoder.decode(f.payload) for _, f in delivered])
        assert analyse(pcm)["dominant_hz"] == pytest.approx(660, abs=3)
        outbound = [m for m in recorder.events("media") if m["media"]["track"] == "outbound"]
        heard = ulaw_decode(b"".join(base64.b64decode(m["media"]["payload"]) for m in outbound))
        assert analyse(heard, rate=8000)["dominant_hz"] == pytest.approx(660, abs=3)
        endpoint.key_pressed("5", 100)
        await until(lambda: recorder.events("dtmf"))
        seqs = [int(m["sequenceNumber"]) for m in recorder.got[1:]]
        assert seqs == list(range(1, len(seqs) + 1))  # contiguous, in send order
    finally:
        await endpoint.close()
    await until(lambda: recorder.events("stop"))
    assert recorder.got[-1]["event"] == "stop" and endpoint.state == "closed"


async def test_an_endpoint_whose_bot_closes_reports_it_gone(bot: tuple[Recorder, str]) -> None:
    recorder, url = bot
    endpoint = StreamEndpoint(info(), url, Role.LISTEN)
    gone: list[str] = []

    async def on_gone(e: Any, reason: str) -> None:
        gone.append(reason)
        await e.close()

    endpoint.on_gone = on_gone
    endpoint.start()
    await until(lambda: recorder.events("start"))
    assert recorder.ws is not None
    await recorder.ws.close(code=1011, reason="boom")
    await until(lambda: gone)
    assert gone == ["the bot closed its socket (code 1011: boom)"] and endpoint.state == "closed"
    assert not recorder.events("stop")


async def test_an_unreachable_bot_is_reported_gone_without_raising() -> None:
    endpoint = StreamEndpoint(info(), "ws://127.0.0.1:9/none", connect_timeout=2)
    gone: list[str] = []

    async def on_gone(e: Any, reason: str) -> None:
        gone.append(reason)
        await e.close()

    endpoint.on_gone = on_gone
    endpoint.start()
    await until(lambda: gone, within=5)
    assert gone[0].startswith("could not connect to the bot")
