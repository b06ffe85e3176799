"""A voice bot on a call over Twilio's Media Streams protocol, audio asserted by FFT.

The bot is a WebSocket server in the test, as a Pipecat or realtime-speech bot would be: it checks the messages
against Twilio's page (https://www.twilio.com/docs/voice/media-streams/websocket-messages: connected, start, media,
dtmf, mark, stop, and clear's marks sent back), hears Alice's 440 Hz in the μ-law payloads, answers with 660 Hz in
40 ms payload-only frames faster than real time, and Alice hears it. Marks come back after their audio played,
clear silences the queue at once, a bot that closes its socket is detached while the call goes on, and garbage from
the bot is counted, not fatal.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from asyncio import to_thread
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from callbridge.emulator.audio import analyse, tone
from callbridge.media.stream_codec import ulaw_decode, ulaw_encode
from tests.support.browser import wait_for
from tests.support.emulator import Scene
from tests.test_media_bridge import active_call, heard

ALICE, BOT = 440, 660


def has(peaks: list[float], hz: float, within: float = 10) -> bool:
    return any(abs(p - hz) <= within for p in peaks)


class Bot:
    """One bot server; each connection it takes is recorded (messages with their arrival time)."""

    def __init__(self, on_start: Callable[[Bot, ServerConnection], Any] | None = None) -> None:
        self.messages: list[tuple[float, dict[str, Any]]] = []
        self.raw: list[str | bytes] = []
        self.ws: ServerConnection | None = None
        self.closed_at: float | None = None
        self.handshake_headers: dict[str, str] = {}
        self.on_start = on_start
        self.url = ""

    async def handler(self, ws: ServerConnection) -> None:
        self.ws = ws
        assert ws.request is not None
        self.handshake_headers = dict(ws.request.headers.raw_items())
        try:
            async for raw in ws:
                self.raw.append(raw)
                message = json.loads(raw)
                self.messages.append((time.monotonic(), message))
                if message["event"] == "start" and self.on_start is not None:
                    asyncio.get_running_loop().create_task(self.on_start(self, ws))
        except ConnectionClosed:
            pass
        self.closed_at = time.monotonic()

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [m for _, m in self.messages if m["event"] == kind]

    def heard(self, last: float = 1.0, track: str = "inbound") -> dict[str, Any]:
        media = [m["media"] for m in self.events("media")]
        payloads = [base64.b64decode(m["payload"]) for m in media if m["track"] == track]
        samples = ulaw_decode(b"".join(payloads))[-int(last * 8000) :]
        return dict(analyse(samples, rate=8000))

    async def say(self, seconds: float, hz: float = BOT, chunk: float = 0.04, pace: float = 0.0) -> None:
        """``hz`` for ``seconds`` in payload-only media messages (as Pipecat sends), ``pace`` seconds apart."""
        assert self.ws is not None
        audio = ulaw_encode(tone(hz, seconds, rate=8000))
        step = int(chunk * 8000)
        for i in range(0, len(audio), step):
            payload = base64.b64encode(audio[i : i + step]).decode()
            await self.ws.send(json.dumps({"event": "media", "media": {"payload": payload}}))
            if pace:
                await asyncio.sleep(pace)

    async def send(self, message: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send(json.dumps(message))


async def bot_server(bot: Bot) -> AsyncIterator[Bot]:
    async with serve(bot.handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        bot.url = f"ws://127.0.0.1:{port}/bot"
        yield bot


@pytest.fixture
async def bot() -> AsyncIterator[Bot]:
    async for running in bot_server(Bot()):
        yield running


@pytest.fixture
async def second_bot() -> AsyncIterator[Bot]:
    async for running in bot_server(Bot()):
        yield running


def stream(scene: Scene, call_id: str, url: str, **extra: Any) -> str:
    r = scene.post("/call/stream", {"CallID": call_id, "URL": url, **extra})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["StreamID"].startswith("MZ") and len(data["StreamID"]) == 34
    return str(data["StreamID"])


def stream_stats(scene: Scene, call_id: str, stream_id: str) -> dict[str, Any]:
    r = scene.gateway.get("/call/stats", token=scene.token, params={"CallID": call_id})
    stats: dict[str, Any] = r.json()["data"]["endpoints"][stream_id]
    return stats


def detached(scene: Scene, call_id: str, stream_id: str, timeout: float = 15) -> dict[str, Any]:
    class Matches:
        def __eq__(self, endpoint: object) -> bool:
            return isinstance(endpoint, dict) and endpoint["EndpointID"] == stream_id

    return scene.wait_event(call_id, "EndpointDetached", timeout=timeout, Endpoint=Matches())


async def connected(bot: Bot) -> None:
    await wait_for(lambda: len(bot.events("start")) == 1, what="the bot's start message")


async def test_the_bot_hears_alice_in_twilio_messages_and_alice_hears_the_bot(scene: Scene, bot: Bot) -> None:
    _, call_id = await active_call(scene, say=f"tone:{ALICE}")
    stream_id = await to_thread(
        stream, scene, call_id, bot.url, CustomParameters={"lang": "en"}, Headers={"Authorization": "Bearer xyz"}
    )
    await connected(bot)
    assert bot.handshake_headers.get("Authorization") == "Bearer xyz"
    await wait_for(lambda: len(bot.events("media")) > 75, what="1.5 s of media at the bot")

    # Twilio's messages, field for field and in order.
    first, second = json.loads(bot.raw[0]), json.loads(bot.raw[1])
    assert first == {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    assert list(second) == ["event", "sequenceNumber", "start", "streamSid"]
    assert second["sequenceNumber"] == "1" and second["streamSid"] == stream_id
    start = second["start"]
    assert list(start) == ["accountSid", "streamSid", "callSid", "tracks", "mediaFormat", "customParameters"]
    assert start["accountSid"].startswith("AC") and len(start["accountSid"]) == 34
    assert (start["streamSid"], start["callSid"], start["tracks"]) == (stream_id, call_id, ["inbound"])
    assert start["mediaFormat"] == {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
    assert start["customParameters"] == {"lang": "en"}
    media = bot.events("media")
    assert list(media[0]) == ["event", "sequenceNumber", "media", "streamSid"]
    assert list(media[0]["media"]) == ["track", "chunk", "timestamp", "payload"]
    assert [m["sequenceNumber"] for m in media[:5]] == ["2", "3", "4", "5", "6"]
    assert [m["media"]["chunk"] for m in media[:3]] == ["1", "2", "3"]
    assert [m["media"]["timestamp"] for m in media[:3]] == ["0", "20", "40"]
    assert {m["media"]["track"] for m in media} == {"inbound"} and {m["streamSid"] for m in media} == {stream_id}
    assert {len(base64.b64decode(m["media"]["payload"])) for m in media} == {160}  # 20 ms of μ-law
    bot_heard = bot.heard(last=1.0)
    assert has(bot_heard["peaks_hz"], ALICE) and bot_heard["rms_dbfs"] > -30, bot_heard

    # The bot answers: 3 s of 660 Hz sent at once, then a mark, echoed only once the audio has played.
    sent = time.monotonic()
    await bot.say(3.0)
    await bot.send({"event": "mark", "streamSid": stream_id, "mark": {"name": "greeting"}})
    await wait_for(lambda: has(heard(scene, call_id, 1.0)["peaks_hz"], BOT), what="Alice to hear the bot")
    await wait_for(lambda: bot.events("mark"), within=6, what="the mark echoed")
    echoed_at = next(t for t, m in bot.messages if m["event"] == "mark")
    assert 2.9 <= echoed_at - sent <= 4.0, echoed_at - sent
    mark = bot.events("mark")[0]
    assert list(mark) == ["event", "sequenceNumber", "streamSid", "mark"] and mark["mark"] == {"name": "greeting"}
    stats = await to_thread(stream_stats, scene, call_id, stream_id)
    assert stats["kind"] == "stream" and stats["state"] == "connected"
    assert stats["stream"]["media_received"] == 75 and 145 <= stats["stream"]["frames_played"] <= 155, stats
    call = await to_thread(scene.call_status, call_id)
    assert {(e["EndpointID"], e["Kind"], e["Role"]) for e in call["Endpoints"]} == {(stream_id, "stream", "talk")}

    # Stopped by the app: stop (with Twilio's fields), then the socket closes; the call goes on.
    r = await to_thread(scene.post, "/call/stream/stop", {"CallID": call_id, "StreamID": stream_id})
    assert r.status_code == 200, r.text
    await wait_for(lambda: bot.closed_at is not None, what="the bot's socket closed")
    stop = bot.events("stop")
    assert len(stop) == 1 and bot.messages[-1][1]["event"] == "stop"
    assert stop[0]["stop"] == {"accountSid": start["accountSid"], "callSid": call_id}
    assert stop[0]["streamSid"] == stream_id
    event = await to_thread(detached, scene, call_id, stream_id)
    assert event["Reason"] == "stopped by the app"
    assert (await to_thread(scene.call_status, call_id))["State"] == "active"


async def test_clear_drops_the_queue_at_once_and_sends_back_the_pending_marks(scene: Scene, bot: Bot) -> None:
    _, call_id = await active_call(scene, say="silence")
    stream_id = await to_thread(stream, scene, call_id, bot.url)
    await connected(bot)
    await bot.say(10.0)
    await bot.send({"event": "mark", "mark": {"name": "after-ten-seconds"}})
    await wait_for(lambda: has(heard(scene, call_id, 0.5)["peaks_hz"], BOT), what="Alice to hear the bot")
    assert not bot.events("mark")
    played = (await to_thread(stream_stats, scene, call_id, stream_id))["stream"]["frames_played"]
    await bot.send({"event": "clear", "streamSid": stream_id})
    await wait_for(lambda: bot.events("mark"), within=2, what="the pending mark sent back on clear")
    assert bot.events("mark")[0]["mark"]["name"] == "after-ten-seconds"
    stats = (await to_thread(stream_stats, scene, call_id, stream_id))["stream"]
    assert stats["queuedSeconds"] == 0 and stats["clears"] == 1
    await asyncio.sleep(1.2)
    after = (await to_thread(stream_stats, scene, call_id, stream_id))["stream"]["frames_played"]
    assert after - stats["frames_played"] <= 2, (played, stats["frames_played"], after)  # nothing played since
    silent = await to_thread(heard, scene, call_id, 1.0)
    assert not has(silent["peaks_hz"], BOT) and silent["rms_dbfs"] < -40, silent


async def test_key_presses_reach_the_bot_as_dtmf_messages(scene: Scene, bot: Bot) -> None:
    caller = await to_thread(scene.user, say=f"tone:{ALICE}")
    call_id = await to_thread(scene.user_calls, caller)
    await to_thread(scene.wait_event, call_id, "CallOffer")
    assert (await to_thread(scene.post, "/call/accept", {"CallID": call_id})).status_code == 200
    await to_thread(scene.wait_state, call_id, "active")
    stream_id = await to_thread(stream, scene, call_id, bot.url, Role="listen", Tracks="both")
    await connected(bot)
    assert bot.events("start")[0]["start"]["tracks"] == ["inbound", "outbound"]
    await wait_for(lambda: len(bot.events("media")) > 50, what="media at the bot")
    r = await to_thread(
        scene.emulator.client.post, f"/emulator/calls/{call_id}/dtmf", json={"digits": "12#", "duration_ms": 160}
    )
    assert r.status_code == 200, r.text
    await wait_for(lambda: len(bot.events("dtmf")) == 3, what="three dtmf messages at the bot")
    dtmf = bot.events("dtmf")
    assert [m["dtmf"] for m in dtmf] == [{"track": "inbound_track", "digit": d} for d in "12#"]
    assert list(dtmf[0]) == ["event", "streamSid", "sequenceNumber", "dtmf"] and dtmf[0]["streamSid"] == stream_id
    # A listener's voice goes nowhere, but both tracks flow: Alice on "inbound", the (silent) bot on "outbound".
    await bot.say(1.0)
    await asyncio.sleep(1.0)
    assert not has(heard(scene, call_id, 1.0)["peaks_hz"], BOT)
    tracks = {m["media"]["track"] for m in bot.events("media")}
    assert tracks == {"inbound", "outbound"}
    stats = (await to_thread(stream_stats, scene, call_id, stream_id))["stream"]
    assert stats["media_ignored"] == 25 and stats["dtmf_sent"] == 3


async def test_a_bot_that_closes_its_socket_is_detached_and_the_call_goes_on(
    scene: Scene, bot: Bot, second_bot: Bot
) -> None:
    _, call_id = await active_call(scene, say=f"tone:{ALICE}")
    first = await to_thread(stream, scene, call_id, bot.url)
    await to_thread(stream, scene, call_id, second_bot.url, Role="whisper")
    await connected(bot)
    await connected(second_bot)
    assert bot.ws is not None
    await bot.ws.close(code=1000, reason="pipeline ended")
    event = await to_thread(detached, scene, call_id, first)
    assert event["Reason"] == "the bot closed its socket (code 1000: pipeline ended)"
    assert (await to_thread(scene.call_status, call_id))["State"] == "active"
    # The other stream is untouched: it still hears Alice.
    count = len(second_bot.events("media"))
    await wait_for(lambda: len(second_bot.events("media")) > count + 25, what="the second bot still hearing")
    assert has(second_bot.heard(0.5)["peaks_hz"], ALICE)
    # The call ends: the remaining bot gets stop, then its socket closes.
    assert (await to_thread(scene.post, "/call/end", {"CallID": call_id})).status_code == 200
    await wait_for(lambda: second_bot.closed_at is not None, what="the second bot's socket closed")
    assert second_bot.messages[-1][1]["event"] == "stop"
    assert not bot.events("stop")  # the first bot had gone before


async def test_garbage_from_the_bot_is_counted_and_survived(scene: Scene, bot: Bot) -> None:
    _, call_id = await active_call(scene, say=f"tone:{ALICE}")
    stream_id = await to_thread(stream, scene, call_id, bot.url, Format="l16-16k")
    await connected(bot)
    assert bot.events("start")[0]["start"]["mediaFormat"] == {
        "encoding": "audio/x-l16",
        "sampleRate": 16000,
        "channels": 1,
    }
    assert bot.ws is not None
    for raw in ("not json", "[1, 2]", '{"event": 5}', '{"event": "media"}', '{"event": "media", "media": 7}'):
        await bot.ws.send(raw)
    await bot.send({"event": "media", "media": {"payload": "***not base64***"}})
    await bot.send({"event": "media", "media": {"payload": base64.b64encode(b"\x01\x02\x03").decode()}})
    await bot.send({"event": "mark", "mark": {}})
    await bot.send({"event": "dance"})
    await bot.ws.send(b"\x00\xff binary")
    pcm = tone(BOT, 2.0, rate=16000).astype("<i2").tobytes()
    for i in range(0, len(pcm), 1280):  # 40 ms of 16 kHz L16
        await bot.send({"event": "media", "media": {"payload": base64.b64encode(pcm[i : i + 1280]).decode()}})
    await wait_for(lambda: has(heard(scene, call_id, 0.5)["peaks_hz"], BOT), what="Alice to hear the bot")
    stats = (await to_thread(stream_stats, scene, call_id, stream_id))["stream"]
    assert stats["bad_json"] == 3 and stats["bad_media"] == 2 and stats["bad_base64"] == 1, stats
    assert stats["partial_samples"] == 1 and stats["bad_mark"] == 1 and stats["unknown_event"] == 2, stats
    assert stats["media_received"] == 51, stats
    media = bot.events("media")[-1]
    assert len(base64.b64decode(media["media"]["payload"])) == 640  # 20 ms of 16 kHz L16
    call = await to_thread(scene.call_status, call_id)
    assert call["State"] == "active" and [e["State"] for e in call["Endpoints"]] == ["connected"]


async def test_bad_requests_are_refused_and_an_unreachable_bot_is_detached(scene: Scene) -> None:
    _, call_id = await active_call(scene, say="silence")
    refused: list[dict[str, Any]] = [
        {"URL": "http://127.0.0.1:9/bot"},
        {"URL": "ws://"},
        {"URL": "not a url"},
        {"URL": "ws://127.0.0.1:9/bot", "Format": "opus"},
        {"URL": "ws://127.0.0.1:9/bot", "Tracks": "outbound"},
        {"URL": "ws://127.0.0.1:9/bot", "Role": "boss"},
        {"URL": "ws://127.0.0.1:9/bot", "Headers": {"Host": "elsewhere"}},
        {"URL": "ws://127.0.0.1:9/bot", "Headers": {"Sec-WebSocket-Key": "x"}},
        {"URL": "ws://127.0.0.1:9/bot", "Headers": {"Bad Name": "x"}},
        {"URL": "ws://127.0.0.1:9/bot", "Headers": {"X-A": "line\r\nbreak"}},
        {"URL": "ws://127.0.0.1:9/bot", "Headers": {f"X-{i}": "v" for i in range(33)}},
        {"URL": "ws://127.0.0.1:9/bot", "CustomParameters": {"k": "v" * 1025}},
        {"URL": "ws://127.0.0.1:9/bot", "CustomParameters": {"k": 5}},
    ]
    for body in refused:
        r = await to_thread(scene.post, "/call/stream", {"CallID": call_id, **body})
        assert r.status_code == 400, (body, r.text)
        assert r.json()["success"] is False
    r = await to_thread(scene.post, "/call/stream", {"CallID": "nope", "URL": "ws://127.0.0.1:9/"})
    assert r.status_code == 404, r.text
    r = await to_thread(scene.post, "/call/stream/stop", {"CallID": call_id, "StreamID": "MZ00"})
    assert r.status_code == 404, r.text

    stream_id = await to_thread(stream, scene, call_id, "ws://127.0.0.1:9/nobody-listens")
    event = await to_thread(detached, scene, call_id, stream_id)
    assert event["Reason"].startswith("could not connect to the bot"), event
    assert (await to_thread(scene.call_status, call_id))["State"] == "active"
