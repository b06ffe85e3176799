"""What this process holds, as an operator (or the soak test) watches it for leaks. Linux's /proc; None elsewhere."""

from __future__ import annotations

import asyncio
import os
import resource
from pathlib import Path

from callbridge.media.leg import AudioLeg


def process_stats() -> dict[str, float | int | None]:
    return {
        "rssMb": _rss_mb(),
        "openFiles": _open_files(),
        "tasks": len(asyncio.all_tasks()),
        "peerConnections": AudioLeg.open_count,
    }


def _rss_mb() -> float | None:
    try:
        resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return round(resident_pages * resource.getpagesize() / 2**20, 1)


def _open_files() -> int | None:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None
