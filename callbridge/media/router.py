"""One call's audio switchboard: passes Opus frames through where routing allows, and otherwise decodes, mixes
and encodes on a 20 ms clock of its own.

Frames arrive from each voice's jitter buffer, in order. Passthrough destinations get them at once. Voices a mix
or the recording needs are decoded on arrival into a short queue; each tick takes one frame from every queue,
one frame of each made source (files, hold audio), sums each distinct mix once, encodes it once and pushes the
result to every destination that hears that mix. No mix and no recording: no clock, no decoder, no encoder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, deque
from collections.abc import Callable
from functools import partial

import numpy as np

from callbridge.media.inbound import InboundAudio, Lane
from callbridge.media.opus import FRAME_SAMPLES, RATE, OpusDecoder, OpusEncoder, OpusFrame
from callbridge.media.outbound import OutboundAudio
from callbridge.media.recorder import Recorder
from callbridge.media.routing import WHATSAPP, Routes

log = logging.getLogger(__name__)

TICK = FRAME_SAMPLES / RATE
MAX_QUEUED = 5  # decoded frames a voice may have waiting (100 ms); older ones are dropped
# Frames a voice may still have waiting after a tick took one: enough to ride out jitter, and a burst never turns
# into lasting delay (arrivals and ticks run at the same rate, so nothing else would drain a backlog).
BACKLOG = 2
DRAIN_AFTER = 50  # ticks (1 s) with a frame always left over: drop one, so a standing backlog drains too
SILENT = np.zeros(FRAME_SAMPLES, dtype=np.int16)

MadeAudio = Callable[[], np.ndarray | None]  # the next 20 ms of a file or a loop, or None when it has run out


class Router:
    def __init__(self) -> None:
        self.routes = Routes()
        self.outputs: dict[str, OutboundAudio] = {}  # by key: WhatsApp and the connected endpoints
        self.made: dict[str, MadeAudio] = {}  # PLAYBACK, HOLD while they play
        self.recorder: Recorder | None = None
        self.decoded: Counter[str] = Counter()  # frames decoded, by voice
        self.mixed: Counter[frozenset[str]] = Counter()  # frames encoded, by mix
        self.trimmed: Counter[str] = Counter()  # decoded frames dropped to keep the delay down, by voice
        self.on_tick: Callable[[], None] | None = None  # after each tick (made sources may have finished)
        self._queues: dict[str, deque[np.ndarray]] = {}
        self._standing: Counter[str] = Counter()  # ticks in a row that left a voice's queue non-empty
        self._decoders: dict[str, OpusDecoder] = {}
        self._encoders: dict[frozenset[str], OpusEncoder] = {}
        self._clock: asyncio.Task[None] | None = None
        self._timestamp = 0
        # the voices listened to: their inbound, the sink they have, and the output it is straight to (or None)
        self._voices: dict[str, tuple[InboundAudio, Callable[[OpusFrame], None], OutboundAudio | None]] = {}

    def listen(self, key: str, voice: InboundAudio) -> None:
        """Take a voice's frames from now on (until its inbound closes)."""
        sink, target = self._sink(key)
        self._voices[key] = (voice, sink, target)
        voice.sinks.append(sink)
        voice.set_lane(_lane(sink, target))

    def _sink(self, key: str) -> tuple[Callable[[OpusFrame], None], OutboundAudio | None]:
        """Where a voice's frames go, and the output they go to straight. A voice heard as is by one destination and
        decoded for nothing (a plain call, both ways) goes straight to that output: one hop less for every packet."""
        destinations = self.routes.direct.get(key, ())
        output = self.outputs.get(destinations[0]) if len(destinations) == 1 else None
        if output is not None and key not in self._decoders:
            return output.push, output
        return partial(self._heard, key), None

    def _resink(self) -> None:
        """After new routes: each voice's sink to match them; voices whose inbound has closed are forgotten."""
        for key, (voice, sink, target) in list(self._voices.items()):
            if sink not in voice.sinks:
                del self._voices[key]
                continue
            new, new_target = self._sink(key)
            if new_target is target and (target is not None or isinstance(sink, partial)):
                continue  # the same way as before
            voice.sinks[voice.sinks.index(sink)] = new
            voice.set_lane(_lane(new, new_target))
            self._voices[key] = (voice, new, new_target)

    def apply(self, routes: Routes, outputs: dict[str, OutboundAudio]) -> None:
        """Switch to new routes: decoders, encoders and the clock start and stop with what they are needed for."""
        self.routes, self.outputs = routes, outputs
        for key in set(self._decoders) - routes.decode:
            del self._decoders[key], self._queues[key]
        for key in routes.decode - set(self._decoders):
            self._decoders[key], self._queues[key] = OpusDecoder(), deque(maxlen=MAX_QUEUED)
        for mix in set(self._encoders) - set(routes.mixes):
            del self._encoders[mix]
        for mix in set(routes.mixes) - set(self._encoders):
            self._encoders[mix] = OpusEncoder()
        self._resink()
        if routes.ticking and self._clock is None:
            self._clock = asyncio.create_task(self._run(), name="router clock")
        elif not routes.ticking and self._clock is not None:
            self._clock.cancel()
            self._clock = None

    def _heard(self, key: str, frame: OpusFrame) -> None:
        for destination in self.routes.direct.get(key, ()):
            if (output := self.outputs.get(destination)) is not None:
                output.push(frame)
        if (decoder := self._decoders.get(key)) is not None:
            self._queues[key].append(decoder.decode(frame.payload))
            self.decoded[key] += 1

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            due += TICK
            late = loop.time() - due
            if late > 0.2:  # the loop stalled: start afresh rather than catch up in a burst
                due = loop.time()
            await asyncio.sleep(max(0.0, due - loop.time()))
            try:
                self.tick()
            except Exception:
                log.exception("mixing failed for one tick")

    def tick(self) -> None:
        """Mix and send 20 ms."""
        routes = self.routes
        pcm = {}
        for key, queue in self._queues.items():
            if queue:
                pcm[key] = queue.popleft()
            self._standing[key] = self._standing[key] + 1 if queue else 0
            while len(queue) > BACKLOG or (queue and self._standing[key] >= DRAIN_AFTER):
                queue.popleft()
                self.trimmed[key] += 1
                self._standing[key] = 0
        for key in routes.made:
            if (source := self.made.get(key)) is not None and (made := source()) is not None:
                pcm[key] = made
        self._timestamp += FRAME_SAMPLES
        for mix, destinations in routes.mixes.items():
            parts = [pcm[key] for key in mix if key in pcm]
            if not parts or (encoder := self._encoders.get(mix)) is None:
                continue  # nothing to say: the destinations fill in silence themselves
            frame = OpusFrame(self._timestamp, encoder.encode(_sum(parts)))
            self.mixed[mix] += 1
            for destination in destinations:
                if (output := self.outputs.get(destination)) is not None:
                    output.push(frame, mixed=True)
        if self.recorder is not None:
            self.recorder.whatsapp.hear(pcm.get(WHATSAPP, SILENT))
            if self.recorder.endpoints is not None:
                parts = [pcm[key] for key in routes.record_right if key in pcm]
                self.recorder.endpoints.hear(_sum(parts) if parts else SILENT)
        if self.on_tick is not None:
            self.on_tick()

    def stats(self) -> list[dict[str, object]]:
        """The mixes made now: what each one holds, how many destinations hear it, frames encoded."""
        return [
            {"sources": sorted(mix), "destinations": list(heard), "encoded": self.mixed[mix]}
            for mix, heard in self.routes.mixes.items()
        ]

    async def close(self) -> None:
        if self._clock is not None:
            self._clock.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._clock
            self._clock = None
        self._decoders.clear()
        self._queues.clear()
        self._encoders.clear()
        self._voices.clear()


def _lane(sink: Callable[[OpusFrame], None], target: OutboundAudio | None) -> Lane | None:
    """A straight sink's passthrough lane: the inbound forwards an in-order packet's fields to the output."""
    return Lane(sink, target.forward) if target is not None else None


def _sum(parts: list[np.ndarray]) -> np.ndarray:
    if len(parts) == 1:
        return parts[0]
    total = np.sum(np.stack(parts).astype(np.int32), axis=0)
    return np.clip(total, -32768, 32767).astype(np.int16)
