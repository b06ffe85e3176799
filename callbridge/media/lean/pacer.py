"""One 20 ms clock per event loop for every lean outbound that has nothing to forward: it sends their silence.

A leg forwarding audio sends each frame the moment it arrives; only an idle leg needs a clock (WhatsApp drops
calls that get no Opus for ~20 s). One timer for all of them, not a task per leg and frame.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

log = logging.getLogger(__name__)

TICK = 0.02
T = TypeVar("T")


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


class PerLoop(Generic[T]):
    """One ``make(loop)`` per event loop, made when first asked for on it and gone with it: a clock that serves
    everything on its loop with one timer."""

    def __init__(self, make: Callable[[asyncio.AbstractEventLoop], T]) -> None:
        self.make = make
        self._made: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = weakref.WeakKeyDictionary()

    def __call__(self) -> T:
        """The running loop's."""
        loop = asyncio.get_running_loop()
        found = self._made.get(loop)
        if found is None:
            found = self._made[loop] = self.make(loop)
        return found


pacer = PerLoop(SilencePacer)  # the running loop's pacer: pacer()
