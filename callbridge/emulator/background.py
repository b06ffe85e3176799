"""Background tasks that are kept referenced until they finish, so the event loop cannot drop them midway."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def spawn(coro: Coroutine[Any, Any, T], keep_in: set[asyncio.Task[T]]) -> asyncio.Task[T]:
    """Run ``coro`` as a task held in ``keep_in`` until it is done (asyncio keeps only weak references)."""
    task = asyncio.create_task(coro)
    keep_in.add(task)
    task.add_done_callback(keep_in.discard)
    return task
