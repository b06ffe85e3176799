"""A voice bot attached to a call over a WebSocket it serves, speaking Twilio's Media Streams protocol.

The gateway connects out to the bot, says ``connected`` and ``start``, then sends what the endpoint hears (the
WhatsApp user and whoever else its role lets it hear) as ``media`` on track "inbound", 20 ms per message; with
tracks "both" also what the bot itself is playing into the call, on track "outbound". Key presses go as ``dtmf``.
What the bot sends back is queued (stream_pacer.py), played at 20 ms a tick, encoded to Opus and handed to the
call's router; ``mark`` is echoed when the audio before it has played, ``clear`` drops the queue (barge-in).

When the stream is stopped or the call ends: ``stop``, then the socket is closed (bots such as Pipecat end their
pipelines on close). A socket that fails or that the bot closes makes the endpoint go (``on_gone``); the call goes
on. Nothing the bot sends can break the call: unusable messages are counted (``stats()``) and logged once per kind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from callbridge.media import stream_protocol as protocol
from callbridge.media.endpoint import CarriedEndpoint, Role
from callbridge.media.opus import FRAME_SAMPLES, OpusDecoder, OpusEncoder, OpusFrame
from callbridge.media.stream_codec import AudioFormat, NotWholeSamples, from_call_rate, to_call_rate
from callbridge.media.stream_pacer import PlayQueue

log = logging.getLogger(__name__)

TICK = 0.02
CONNECT_TIMEOUT = 10.0
MAX_MESSAGE = 8 * 1024 * 1024  # one message from the bot; 1 MiB of base64 μ-law is already 100 s of speech
MAX_UNSENT = 250  # messages waiting for a slow bot (5 s of audio); the oldest media are dropped past it
STOP_WAIT = 1.0  # seconds to get ``stop`` out before closing


Build = Callable[[int], dict[str, Any]]  # a message, given its sequence number


class StreamEndpoint(CarriedEndpoint):
    kind = "stream"
    idle_limit = None  # the socket tells whether the bot is there

    def __init__(
        self,
        info: protocol.StreamInfo,
        url: str,
        role: Role = Role.TALK,
        headers: dict[str, str] | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        super().__init__(info.stream_sid, role)
        self.info = info
        self.url = url
        self.headers = dict(headers or {})
        self.connect_timeout = connect_timeout
        self.fmt: AudioFormat = info.fmt
        self._state = "connecting"
        self._ws: ClientConnection | None = None
        self._workers: list[asyncio.Task[None]] = []  # the sender and the pacer
        self._writer: asyncio.Task[None] | None = None
        self._drained = asyncio.Event()
        self._main: asyncio.Task[None] | None = None
        self._closed = False
        self._gone_reported = False
        self._unsent: deque[Build] = deque()
        self._wake = asyncio.Event()
        self._seq = 0
        self.queue = PlayQueue()
        self._to_call = to_call_rate(self.fmt)
        self._encoder: OpusEncoder | None = None
        self._outbound_track = "outbound" in info.tracks
        self._chunks: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()
        self._warned: set[str] = set()

    # ---- Endpoint --------------------------------------------------------------------------------------------------

    @property
    def state(self) -> str:
        return self._state

    def start(self) -> None:
        """Connect to the bot in the background (the endpoint is attached already; it connects or goes)."""
        if self._main is None and not self._closed:
            self._main = asyncio.create_task(self._run(), name=f"stream {self.id}")

    def key_pressed(self, digit: str, duration_ms: int) -> None:
        if self._state == "connected":
            self._send(lambda seq: protocol.dtmf(seq, self.info.stream_sid, digit))
            self.counts["dtmf_sent"] += 1

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        was_connected = self._state == "connected"
        self._state = "closed"
        current = asyncio.current_task()
        await _cancel(self._workers, current)
        ws = self._ws
        if ws is not None and was_connected and self._writer is not None and not self._writer.done():
            self._send(lambda seq: protocol.stop(seq, self.info))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STOP_WAIT):
                    await self._drained.wait()
        if self._writer is not None:
            await _cancel([self._writer], current)
        if ws is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(STOP_WAIT):
                    await ws.close()
        if self._main is not None:
            await _cancel([self._main], current)
        self._outgoing.stop()
        self._inbound.close()

    def stats(self) -> dict[str, Any]:
        stats = super().stats()
        stats["stream"] = {
            "url": self.url,
            "format": self.fmt.name,
            "tracks": list(self.info.tracks),
            "queuedSeconds": round(self.queue.seconds, 3),
            "droppedSeconds": round(self.queue.dropped_samples / 48000, 3),
            **dict(sorted(self.counts.items())),
        }
        return stats

    # ---- the connection --------------------------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            self._ws = await connect(
                self.url,
                additional_headers=self.headers or None,
                open_timeout=self.connect_timeout,
                close_timeout=STOP_WAIT,
                max_size=MAX_MESSAGE,
                compression=None,
                proxy=None,
                user_agent_header="callbridge",
            )
        except asyncio.CancelledError:
            raise
        except InvalidStatus as exc:
            await self._gone(f"the bot refused the WebSocket (HTTP {exc.response.status_code})")
            return
        except (OSError, TimeoutError, WebSocketException, ValueError) as exc:
            await self._gone(f"could not connect to the bot: {_describe(exc)}")
            return
        if self._closed:
            await self._ws.close()
            return
        self._state = "connected"
        self._send(lambda _: protocol.connected())
        self._send(lambda seq: protocol.start(seq, self.info))
        self._writer = asyncio.create_task(self._write(), name=f"stream {self.id} writer")
        self._workers = [
            asyncio.create_task(self._hear(), name=f"stream {self.id} sender"),
            asyncio.create_task(self._pace(), name=f"stream {self.id} pacer"),
        ]
        if self.on_connected is not None:
            self.on_connected(self)
        reason = await self._receive(self._ws)
        await self._gone(reason)

    async def _gone(self, reason: str) -> None:
        self._state = "closed"
        if self._gone_reported or self._closed:
            return
        self._gone_reported = True
        log.info("stream %s to %s: %s", self.id, self.url, reason)
        if self.on_gone is not None:
            await self.on_gone(self, reason)
        else:
            await self.close()

    def _send(self, build: Build) -> None:
        if len(self._unsent) >= MAX_UNSENT:
            self._unsent.popleft()  # a bot that does not read: what it hears is stale anyway
            self.counts["send_dropped"] += 1
        self._unsent.append(build)
        self._drained.clear()
        self._wake.set()

    async def _write(self) -> None:
        assert self._ws is not None
        try:
            while True:
                while self._unsent:
                    build = self._unsent.popleft()
                    message = build(self._seq + 1)
                    if "sequenceNumber" in message:
                        self._seq += 1
                    await self._ws.send(json.dumps(message, separators=(",", ":")))
                self._drained.set()
                self._wake.clear()
                await self._wake.wait()
        except ConnectionClosed:
            return  # the receiver reports why

    async def _receive(self, ws: ClientConnection) -> str:
        try:
            async for raw in ws:
                self._on_message(raw)
        except ConnectionClosed as exc:
            return _closed_reason(exc)
        except Exception as exc:  # whatever breaks the socket detaches the bot, not the call
            log.exception("stream %s: receiving failed", self.id)
            return f"the bot's socket failed: {_describe(exc)}"
        return _closed_reason(None, ws)

    # ---- from the bot ----------------------------------------------------------------------------------------------

    def _on_message(self, raw: str | bytes) -> None:
        try:
            message = protocol.parse(raw)
            if isinstance(message, protocol.Media):
                self._on_media(message.payload)
            elif isinstance(message, protocol.Mark):
                self.counts["marks_received"] += 1
                self.queue.add_mark(message.name)
            else:
                self.counts["clears"] += 1
                for name in self.queue.clear():
                    self._echo(name)
                self._to_call = to_call_rate(self.fmt)  # what the resampler holds back goes too
        except protocol.BadMessage as exc:
            self._drop(exc.kind, str(exc))
        except NotWholeSamples as exc:
            self._drop("partial_samples", str(exc))
        except Exception as exc:  # a message must never take the stream down
            log.exception("stream %s: a message from the bot could not be handled", self.id)
            self._drop("errors", _describe(exc))

    def _on_media(self, payload: bytes) -> None:
        self.counts["media_received"] += 1
        if not self.speaks:
            self.counts["media_ignored"] += 1  # a listener's voice goes nowhere
            return
        pcm = self.fmt.decode(payload)
        self.queue.add_audio(self._to_call.convert(pcm))

    def _drop(self, kind: str, detail: str) -> None:
        self.counts[kind] += 1
        level = logging.WARNING if kind not in self._warned else logging.DEBUG
        self._warned.add(kind)
        log.log(level, "stream %s: dropped a message from the bot (%s): %s", self.id, kind, detail)

    def _echo(self, name: str) -> None:
        self.counts["marks_echoed"] += 1
        self._send(lambda seq: protocol.mark(seq, self.info.stream_sid, name))

    async def _pace(self) -> None:
        """Play the queue into the call, 20 ms per tick on the loop's clock."""
        loop = asyncio.get_running_loop()
        due = loop.time()
        timestamp = 0
        silence = self.fmt.silence(self.fmt.frame_samples)
        to_bot = from_call_rate(self.fmt) if self._outbound_track else None
        while True:
            due += TICK
            if loop.time() - due > 0.2:  # the loop stalled: start afresh rather than catch up in a burst
                due = loop.time()
            await asyncio.sleep(max(0.0, due - loop.time()))
            timestamp += FRAME_SAMPLES
            try:
                taken = self.queue.take(time.monotonic())
                if taken.pcm is not None:
                    if self._encoder is None:
                        self._encoder = OpusEncoder()
                    self._inbound.deliver(OpusFrame(timestamp, self._encoder.encode(taken.pcm)))
                    self.counts["frames_played"] += 1
                for name in taken.marks:
                    self._echo(name)
                if to_bot is not None:
                    pcm = to_bot.convert(taken.pcm) if taken.pcm is not None else None
                    self._media("outbound", self.fmt.encode(pcm) if pcm is not None and pcm.size else silence)
            except Exception:
                log.exception("stream %s: playing one frame failed", self.id)

    # ---- to the bot ------------------------------------------------------------------------------------------------

    async def _hear(self) -> None:
        """What the endpoint hears, decoded and sent as 20 ms ``media`` on track "inbound"."""
        decoder = OpusDecoder()
        to_bot = from_call_rate(self.fmt)
        size = self.fmt.frame_samples
        pending: np.ndarray | None = None
        while True:
            packet = await self._outgoing.recv()
            try:
                pcm = to_bot.convert(decoder.decode(bytes(packet)))
                if pending is None:
                    # The resampler holds back its filter delay (16 of 160 samples at 8 kHz): lead with that much
                    # silence once, so every 20 ms frame fills a chunk at once instead of completing it 20 ms later.
                    pending = np.concatenate([np.zeros(max(0, size - pcm.size), dtype=np.int16), pcm])
                else:
                    pending = np.concatenate([pending, pcm]) if pending.size else pcm
                while pending.size >= size:
                    self._media("inbound", self.fmt.encode(pending[:size]))
                    pending = pending[size:]
            except Exception:
                log.exception("stream %s: sending one frame failed", self.id)

    def _media(self, track: str, payload: bytes) -> None:
        self._chunks[track] += 1
        chunk = self._chunks[track]
        stamp = (chunk - 1) * 20
        sid = self.info.stream_sid
        self._send(lambda seq: protocol.media(seq, sid, track, chunk, stamp, payload))
        self.counts[f"media_sent_{track}"] += 1


async def _cancel(tasks: list[asyncio.Task[None]], current: asyncio.Task[Any] | None) -> None:
    others = [t for t in tasks if t is not current and not t.done()]
    for task in others:
        task.cancel()
    for task in others:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


def _closed_reason(exc: ConnectionClosed | None, ws: ClientConnection | None = None) -> str:
    if exc is not None:
        code, reason = (exc.rcvd.code, exc.rcvd.reason) if exc.rcvd is not None else (None, "")
    else:
        code, reason = (ws.close_code, ws.close_reason or "") if ws is not None else (None, "")
    if code is None or code == 1006:
        return "the bot's socket failed (closed without a close frame)"
    why = f": {reason[:100]}" if reason else ""
    return f"the bot closed its socket (code {code}{why})"


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:200]
