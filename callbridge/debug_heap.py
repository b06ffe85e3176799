"""Heap snapshots on demand, to find what a long-running gateway keeps (the soak's memory creep).

With ``CALLBRIDGE_TRACEMALLOC_DUMP_DIR`` set, ``kill -USR1 <pid>`` writes into that directory, after a full
collection, ``heap-<n>.tracemalloc`` (a tracemalloc snapshot, when tracing: start the process with
``PYTHONTRACEMALLOC=<frames>``) and ``heap-<n>.txt`` (RSS, glibc's malloc figures, and the live objects counted
by type). Compare two snapshots offline::

    new = tracemalloc.Snapshot.load("heap-2.tracemalloc")
    old = tracemalloc.Snapshot.load("heap-1.tracemalloc")
    for stat in new.compare_to(old, "traceback")[:30]:
        print(stat, *stat.traceback.format(), sep="\\n")

A debugging aid: nothing is installed unless the variable is set.
"""

from __future__ import annotations

import collections
import ctypes
import ctypes.util
import gc
import itertools
import os
import signal
import tracemalloc
from pathlib import Path
from types import FrameType

from callbridge.process_stats import process_stats

DUMP_DIR_VARIABLE = "CALLBRIDGE_TRACEMALLOC_DUMP_DIR"
TOP_TYPES = 200


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks")
    ] + [("keepcost", ctypes.c_size_t)]


def install_from_environment() -> Path | None:
    """Install the SIGUSR1 handler when the variable names a directory; the directory, or None."""
    where = os.environ.get(DUMP_DIR_VARIABLE)
    if not where:
        return None
    directory = Path(where)
    directory.mkdir(parents=True, exist_ok=True)
    counter = itertools.count(1)

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        dump(directory, next(counter))

    signal.signal(signal.SIGUSR1, on_signal)
    return directory


def dump(directory: Path, n: int) -> None:
    gc.collect()
    lines = [f"pid {os.getpid()}", f"stats {process_stats()}", f"malloc {_malloc_figures()}"]
    if tracemalloc.is_tracing():
        current, peak = tracemalloc.get_traced_memory()
        lines.append(f"tracemalloc current={current} peak={peak} overhead={tracemalloc.get_tracemalloc_memory()}")
        tracemalloc.take_snapshot().dump(str(directory / f"heap-{n}.tracemalloc"))
    counts = collections.Counter(_type_name(obj) for obj in gc.get_objects())
    lines.append(f"gc objects {sum(counts.values())}")
    lines += [f"{count:>10} {name}" for name, count in counts.most_common(TOP_TYPES)]
    (directory / f"heap-{n}.txt").write_text("\n".join(lines) + "\n")


def _type_name(obj: object) -> str:
    kind = type(obj)
    return f"{kind.__module__}.{kind.__qualname__}"


def _malloc_figures() -> dict[str, int] | None:
    """glibc's mallinfo2: bytes in use (uordblks), free but kept in the arenas (fordblks), mmapped (hblkhd)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        mallinfo2 = ctypes.CDLL(name).mallinfo2
    except (OSError, AttributeError):
        return None
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()
    return {field: int(getattr(info, field)) for field in ("arena", "hblkhd", "uordblks", "fordblks")}
