"""Freed memory goes back to the system: the trim really releases what glibc kept (measured on this process)."""

from __future__ import annotations

import psutil
import pytest

from callbridge.malloc_trim import MallocTrim


async def test_a_trim_returns_freed_memory_to_the_system() -> None:
    trim = MallocTrim()
    if not trim.available:
        pytest.skip("this C library has no malloc_trim")
    me = psutil.Process()
    # Blocks malloc serves from its heap (not mmap), every other one kept: freeing the rest leaves holes that glibc
    # keeps until trimmed.
    blocks = [bytearray(16384) for _ in range(6000)]
    kept = blocks[::2]
    del blocks
    before = me.memory_info().rss
    await trim.trim_now()
    after = me.memory_info().rss
    assert trim.trims == 1
    assert after < before - 20 * 1024 * 1024, (before, after)
    del kept
