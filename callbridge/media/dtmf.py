"""Key presses from the far end: RFC 4733 named telephone events, one key press per event however often its
end packet is repeated (the sender sends it three times) and even if every end packet is lost."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from aiortc import RTCRtpCodecParameters

# What we offer and accept beside Opus (Meta offers it on payload type 126).
TELEPHONE_EVENT = RTCRtpCodecParameters(mimeType="audio/telephone-event", clockRate=8000, channels=1, payloadType=126)
KEYS = "0123456789*#ABCD"  # RFC 4733 §3.2: events 0-15 are the keypad
LOST_END_AFTER = 1.0  # seconds without a packet after which an event whose end never came is taken as ended


@dataclass(frozen=True)
class KeyPress:
    digit: str
    duration_ms: int


class DtmfReceiver:
    def __init__(self, on_key: Callable[[KeyPress], None], clock_rate: int = 8000) -> None:
        self.on_key = on_key
        self.clock_rate = clock_rate
        self._current: tuple[int, int, int] | None = None  # (RTP timestamp, event, duration) of the key held
        self._done: deque[int] = deque(maxlen=8)  # timestamps of events already reported
        self._timer: asyncio.TimerHandle | None = None

    def on_packet(self, timestamp: int, payload: bytes) -> None:
        if len(payload) < 4 or payload[0] >= len(KEYS) or timestamp in self._done:
            return  # not a keypad event, or a repeat of an event already reported
        if self._current is not None and self._current[0] != timestamp:
            self._finish()  # a new event began: the previous one's end packets were all lost
        ended = bool(payload[1] & 0x80)
        self._current = (timestamp, payload[0], int.from_bytes(payload[2:4], "big"))
        if ended:
            self._finish()
        else:
            self._wait_for_end()

    def _wait_for_end(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(LOST_END_AFTER, self._finish)

    def _finish(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._current is None:
            return
        timestamp, event, duration = self._current
        self._current = None
        self._done.append(timestamp)
        self.on_key(KeyPress(KEYS[event], round(duration * 1000 / self.clock_rate)))

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
