"""Event-loop lag: how late a timer fires. One loop carries every call's media, so lag is the first sign of
too many calls in one process (DESIGN: ~15-20 passthrough calls per loop)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque

INTERVAL = 0.05  # seconds between probes
WINDOW = 1200  # probes kept: the last minute


class LoopLag:
    def __init__(self) -> None:
        self.samples: deque[float] = deque(maxlen=WINDOW)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._probe(), name="loop-lag")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _probe(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            while True:
                before = time.perf_counter()
                await asyncio.sleep(INTERVAL)
                self.samples.append(max(0.0, time.perf_counter() - before - INTERVAL) * 1000)

    def summary(self, last: int | None = None) -> dict[str, float]:
        """Percentiles in milliseconds over the last ``last`` probes (all kept ones by default)."""
        values = sorted(list(self.samples)[-last:] if last else self.samples)
        if not values:
            return {"p50": 0.0, "p99": 0.0, "max": 0.0, "samples": 0}
        pick = lambda q: round(values[min(len(values) - 1, int(q * len(values)))], 2)  # noqa: E731
        return {"p50": pick(0.5), "p99": pick(0.99), "max": round(values[-1], 2), "samples": len(values)}
