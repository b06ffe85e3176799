"""The load generator's endpoints that are not browsers: a voice bot (a WebSocket server speaking Twilio's Media
Streams, as the gateway expects of a bot) and a native RTP app (a UDP socket sending and receiving Opus).

They time audio the way the browsers do (callbridge/emulator/markers.py): each sends a quiet tone with a loud marker
burst in the first 20 ms frame of every half second, paced on an absolute 20 ms schedule, remembering when each
marker frame left; and each timestamps the other side's markers as they arrive (before any buffer of its own). The
bot's audio is μ-law at 8 kHz, as Twilio's, so its markers are found in the decoded 160-sample chunks; the RTP app
sends the same pre-encoded Opus loop as the browsers and spots markers with the same tap.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import random
import time
from collections.abc import Callable
from typing import Any, cast

import numpy as np
from aiortc.rtp import RtpPacket
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from callbridge.emulator.markers import FRAME, ON_TIME, PERIOD_FRAMES, MarkerTap, encoded_loop
from callbridge.media.lean.demux import is_rtcp
from callbridge.media.stream_codec import ulaw_decode, ulaw_encode

BOT_RATE = 8000
BOT_FRAME = BOT_RATE // 50  # 160 samples: 20 ms of Twilio's μ-law
MARKER_LEVEL = 0.06  # as MarkerTap: half the amplitude of the marker tone in a frame, above which it is "on"


def ulaw_loop(marker_hz: float, tone_hz: float) -> list[bytes]:
    """0.5 s of a quiet tone whose first 20 ms chunk carries a loud burst at ``marker_hz``, as μ-law chunks."""
    t = np.arange(BOT_FRAME * PERIOD_FRAMES) / BOT_RATE
    pcm = np.sin(2 * math.pi * tone_hz * t) * 0.05
    pcm[:BOT_FRAME] += np.sin(2 * math.pi * marker_hz * t[:BOT_FRAME]) * 0.6
    audio = ulaw_encode((pcm * 32767).astype(np.int16))
    return [audio[i * BOT_FRAME : (i + 1) * BOT_FRAME] for i in range(PERIOD_FRAMES)]


class Paced:
    """A 20 ms schedule from the first frame on; remembers when each marker frame (the loop's first) left."""

    def __init__(self) -> None:
        self.sent: list[float] = []
        self.frames = 0

    async def run(self, send: Callable[[int], Any]) -> None:
        start = time.monotonic()
        while True:
            delay = start + self.frames * 0.02 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            index = self.frames % PERIOD_FRAMES
            if index == 0:
                self.sent.append(time.monotonic())
            await send(self.frames)
            self.frames += 1


class Schedule:
    """Frames on time, as MarkerTap counts them: no later than ON_TIME behind the earliest-arriving schedule."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self.late: list[float] = []
        self._origin: tuple[float, float] | None = None

    def arrived(self, now: float, media_seconds: float) -> None:
        self.arrivals.append(now)
        if self._origin is None:
            self._origin = (now, media_seconds)
        expected = self._origin[0] + media_seconds - self._origin[1]
        if expected > now:
            self._origin = (now, media_seconds)
            expected = now
        if now - expected > ON_TIME:
            self.late.append(now)


class BotPeer:
    """One call's bot: hears the call's ``media`` (marker onsets at ``listen_hz`` timed on arrival) and talks back,
    one 20 ms μ-law chunk per 20 ms, as a bot streaming real-time speech would."""

    def __init__(self, call_id: str, send_hz: float, listen_hz: float, tone_hz: float = 660.0) -> None:
        self.call_id = call_id
        self.chunks = ulaw_loop(send_hz, tone_hz)
        self.pace = Paced()
        self.schedule = Schedule()
        self.received: list[float] = []
        self.started = asyncio.Event()
        self.stream_sid = ""
        self.media_in = 0
        self._probe = np.exp(-2j * math.pi * listen_hz * np.arange(BOT_FRAME) / BOT_RATE)
        self._in_marker = False
        self._talking: asyncio.Task[None] | None = None

    async def serve(self, ws: ServerConnection, start: dict[str, Any]) -> None:
        self.stream_sid = start["streamSid"]
        self.started.set()
        self._talking = asyncio.create_task(self.pace.run(lambda i: self._say(ws, i)))
        try:
            async for raw in ws:
                now = time.monotonic()
                message = json.loads(raw)
                if message.get("event") == "media" and message["media"].get("track", "inbound") == "inbound":
                    self._hear(now, message["media"])
                elif message.get("event") == "stop":
                    break
        except ConnectionClosed:
            pass
        finally:
            self._talking.cancel()

    async def _say(self, ws: ServerConnection, i: int) -> None:
        payload = base64.b64encode(self.chunks[i % PERIOD_FRAMES]).decode()
        await ws.send(json.dumps({"event": "media", "streamSid": self.stream_sid, "media": {"payload": payload}}))

    def _hear(self, now: float, media: dict[str, Any]) -> None:
        self.media_in += 1
        self.schedule.arrived(now, int(media["timestamp"]) / 1000)
        pcm = ulaw_decode(base64.b64decode(media["payload"])).astype(np.float64) / 32768
        if len(pcm) != BOT_FRAME:
            return
        loud = abs(np.dot(pcm, self._probe)) / BOT_FRAME > MARKER_LEVEL
        if loud and not self._in_marker:
            self.received.append(now)
        self._in_marker = loud

    def report(self) -> dict[str, Any]:
        return {
            "sent": self.pace.sent,
            "frames_sent": self.pace.frames,
            "received": self.received,
            "arrivals": self.schedule.arrivals,
            "late": self.schedule.late,
            "stream_sid": self.stream_sid,
        }

    async def close(self) -> None:
        if self._talking is not None:
            self._talking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._talking


class BotServer:
    """One WebSocket server for every call's bot; a connection is matched to its call by ``start.callSid``."""

    def __init__(self, bots: list[BotPeer]) -> None:
        self.bots = {bot.call_id: bot for bot in bots}
        self.server: Server | None = None
        self.url = ""
        self.unknown = 0

    async def start(self) -> None:
        self.server = await serve(self._handler, "127.0.0.1", 0, compression=None, max_size=2**23)
        port = next(iter(self.server.sockets)).getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/bench-bot"

    async def _handler(self, ws: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                message = json.loads(raw)
                if message.get("event") != "start":
                    continue  # "connected" comes first
                bot = self.bots.get(message["start"]["callSid"])
                if bot is None:
                    self.unknown += 1
                    return
                await bot.serve(ws, message)
                return

    async def close(self) -> None:
        await asyncio.gather(*(bot.close() for bot in self.bots.values()))
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


class RtpPeer(asyncio.DatagramProtocol):
    """One call's native RTP app on one UDP socket: sends the browsers' pre-encoded Opus marker loop every 20 ms to
    the gateway's ``LocalAddress`` and taps what comes back (markers at ``listen_hz``, frames on time)."""

    def __init__(self, call_id: str, send_hz: float, listen_hz: float, tone_hz: float = 660.0) -> None:
        self.call_id = call_id
        self.packets = encoded_loop(send_hz, tone_hz)
        self.pace = Paced()
        # MarkerTap sits in an aiortc receiver's jitter-buffer slot; here it is handed each frame directly.
        self.tap = MarkerTap(None, listen_hz)
        self.transport: asyncio.DatagramTransport | None = None
        self.first = asyncio.Event()
        self.ssrc = random.getrandbits(32)
        self.payload_type = 111
        self.unreadable = 0
        self.rtcp = 0
        self._talking: asyncio.Task[None] | None = None

    @property
    def address(self) -> str:
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return f"{host}:{port}"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # what create_datagram_endpoint hands it

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if is_rtcp(data):
            self.rtcp += 1
            return
        try:
            packet = RtpPacket.parse(data)
        except ValueError:
            self.unreadable += 1
            return
        self.tap.heard(packet.timestamp, packet.payload)
        self.first.set()

    def talk(self, to: str, payload_type: int) -> None:
        host, _, port = to.rpartition(":")
        self.payload_type = payload_type
        self._talking = asyncio.create_task(self.pace.run(lambda i: self._say((host, int(port)), i)))

    async def _say(self, to: tuple[str, int], i: int) -> None:
        packet = RtpPacket(
            payload_type=self.payload_type,
            sequence_number=i & 0xFFFF,
            timestamp=(i * FRAME) & 0xFFFFFFFF,
            ssrc=self.ssrc,
            payload=self.packets[i % PERIOD_FRAMES],
        )
        assert self.transport is not None
        self.transport.sendto(packet.serialize(), to)

    def report(self) -> dict[str, Any]:
        return {
            "sent": self.pace.sent,
            "frames_sent": self.pace.frames,
            "unreadable": self.unreadable,
            "rtcp_received": self.rtcp,
            **self.tap.report(),
        }

    async def close(self) -> None:
        if self._talking is not None:
            self._talking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._talking
        if self.transport is not None:
            self.transport.close()


async def open_rtp_peer(call_id: str, send_hz: float, listen_hz: float) -> RtpPeer:
    loop = asyncio.get_running_loop()
    _, peer = await loop.create_datagram_endpoint(
        lambda: RtpPeer(call_id, send_hz, listen_hz), local_addr=("127.0.0.1", 0)
    )
    return peer
