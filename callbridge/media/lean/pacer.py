"""One 20 ms clock per event loop for every lean outbound that has nothing to forward: it sends their silence.

A leg forwarding audio sends each frame the moment it arrives; only an idle leg needs a clock (WhatsApp drops
calls that get no Opus for ~20 s). One timer for all of them, not a task per leg and frame.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import Protocol

log = logging.getLogger(__name__)

TICK = 0.02


class Paced(Protocol):
    def idle(self, now: float) -> None:
        """Send whatever is due by ``now`` (monotonic seconds)."""


class SilencePacer:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.members: set[Paced] = set()
        self._handle: asyncio.Handle | None = None  # call_soon's first, then call_later's
        self._due = 0.0

    def add(self, member: Paced) -> None:
        self.members.add(member)
        if self._handle is None:
            self._due = time.monotonic()
            self._handle = self.loop.call_soon(self._tick)

    def discard(self, member: Paced) -> None:
        self.members.discard(member)
        if not self.members and self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _tick(self) -> None:
        now = time.monotonic()
        for member in list(self.members):
            try:
                member.idle(now)
            except Exception:
                log.exception("pacing a lean outbound failed; dropping it from the clock")
                self.members.discard(member)
        if not self.members:
            self._handle = None
            return
        self._due += TICK
        if self._due < now - 0.1:  # the loop stalled: start afresh rather than catch up in a burst
            self._due = now + TICK
        self._handle = self.loop.call_later(max(0.0, self._due - time.monotonic()), self._tick)


_pacers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SilencePacer] = weakref.WeakKeyDictionary()


def pacer() -> SilencePacer:
    """The running loop's pacer."""
    loop = asyncio.get_running_loop()
    found = _pacers.get(loop)
    if found is None:
        found = _pacers[loop] = SilencePacer(loop)
    return found
