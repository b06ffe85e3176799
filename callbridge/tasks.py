"""Fire-and-forget tasks that stay referenced until they finish (asyncio itself keeps only weak references)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


class BackgroundTasks:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def settle(self, within: float) -> None:
        """Let the running ones finish, for at most ``within`` seconds."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=within)

    async def stop(self, within: float) -> None:
        """Let the running ones finish for at most ``within`` seconds, then cancel the rest and wait for them.

        Waiting matters: a task cancelled but not awaited may still hold a database connection when the engine
        is disposed, and aiosqlite's dispose then waits for it forever.
        """
        await self.settle(within)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def __len__(self) -> int:
        return len(self._tasks)
