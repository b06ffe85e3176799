"""Live events for pages' event streams (``GET /call/events``): in process, at most once, and never a reason to
hold memory for a reader that stalls (it misses events instead)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Sequence

from callbridge.calls.events import AppEvent
from callbridge.metrics import call_events

QUEUE_SIZE = 256


def topic(session_id: int, call_id: str | None) -> str:
    return call_id if call_id is not None else f"session:{session_id}"


class CallFeed:
    def __init__(self) -> None:
        self._readers: dict[str, set[asyncio.Queue[AppEvent]]] = {}

    @contextlib.contextmanager
    def subscribe(self, session_id: int, call_id: str | None = None) -> Iterator[asyncio.Queue[AppEvent]]:
        """A queue of one call's events, or of every event of the session when ``call_id`` is None."""
        key = topic(session_id, call_id)
        queue: asyncio.Queue[AppEvent] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._readers.setdefault(key, set()).add(queue)
        try:
            yield queue
        finally:
            readers = self._readers.get(key)
            if readers is not None:
                readers.discard(queue)
                if not readers:
                    del self._readers[key]

    def publish(self, session_id: int, call_id: str | None, events: Sequence[AppEvent]) -> None:
        call_events.observe(events)  # every event passes here once: the metrics count them
        keys = {topic(session_id, None), topic(session_id, call_id)}
        for event in events:
            for key in keys:
                for queue in self._readers.get(key, ()):
                    if not queue.full():
                        queue.put_nowait(event)
