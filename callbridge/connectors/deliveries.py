"""WhatsApp's webhooks repeat, and overtake each other and the Graph API's answers: a hang-up can arrive before
the offer it ends, a call's RINGING before we know the call's id. This hands each event on once, and holds an
event for a call not yet announced until the call is (or until holding it is pointless)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

from callbridge.connectors.events import (
    CallProgress,
    CallUpdate,
    ConnectorEvent,
    IncomingCall,
    PermissionReply,
)

HOLD_FOR = 60.0  # seconds an event for an unannounced call is kept
REMEMBER = 10_000  # delivered events and announced calls remembered, per number


def fingerprint(event: ConnectorEvent) -> Hashable:
    """What makes two deliveries the same news (small, so remembering many costs little)."""
    if isinstance(event, CallProgress):
        return ("progress", event.call_id, event.status)
    if isinstance(event, PermissionReply):
        return event
    return (type(event).__name__, event.call_id)  # a call is offered, answered and ended once


class Deliveries:
    def __init__(
        self, hold_for: float = HOLD_FOR, remember: int = REMEMBER, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.hold_for = hold_for
        self.remember = remember
        self.clock = clock
        self._seen: OrderedDict[Hashable, None] = OrderedDict()
        self._announced: OrderedDict[Hashable, None] = OrderedDict()
        self._held: dict[str, list[tuple[float, CallUpdate]]] = {}

    def admit(self, event: ConnectorEvent) -> list[ConnectorEvent]:
        """The events that can be handed on now, in order: none (a repeat, or held), this one, or more."""
        key = fingerprint(event)
        if key in self._seen:
            return []
        _remember(self._seen, key, self.remember)
        if isinstance(event, PermissionReply):
            return [event]
        if isinstance(event, IncomingCall):
            return [event, *self.announce(event.call_id)]
        if event.call_id in self._announced:
            return [event]
        self._hold(event)
        return []

    def announce(self, call_id: str) -> list[CallUpdate]:
        """A call became known (we placed it, or its offer came): the events held for it, in arrival order."""
        _remember(self._announced, call_id, self.remember)
        return [event for _, event in self._held.pop(call_id, [])]

    def held_calls(self) -> list[str]:
        """The calls events are held for (on a node of several: maybe calls another node placed)."""
        return list(self._held)

    @property
    def held(self) -> int:
        return sum(len(events) for events in self._held.values())

    def _hold(self, event: CallUpdate) -> None:
        now = self.clock()
        for call_id in [k for k, v in self._held.items() if now - v[0][0] > self.hold_for]:
            del self._held[call_id]
        self._held.setdefault(event.call_id, []).append((now, event))


def _remember(memory: OrderedDict[Hashable, None], key: Hashable, limit: int) -> None:
    memory[key] = None
    if len(memory) > limit:
        memory.popitem(last=False)
