"""Heap snapshots on demand, to find what a long-running gateway keeps (the soak's memory creep).

With ``CALLBRIDGE_TRACEMALLOC_DUMP_DIR`` set, ``kill -USR1 <pid>`` writes into that directory, after a full
collection, ``heap-<n>.tracemalloc`` (a tracemalloc snapshot, when tracing: start the process with
``PYTHONTRACEMALLOC=<frames>``) and ``heap-<n>.txt`` (RSS, glibc's malloc figures, and the live objects counted
by type); ``kill -USR2 <pid>`` calls glibc's malloc_trim(0) and notes RSS before and after in ``trim.txt``.
Compare two snapshots offline::

    new = tracemalloc.Snapshot.load("heap-2.tracemalloc")
    old = tracemalloc.Snapshot.load("heap-1.tracemalloc")
    for stat in new.compare_to(old, "traceback")[:30]:
        print(stat, *stat.traceback.format(), sep="\\n")

A debugging aid: no handler is installed unless the variable is set.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import ctypes.util
import gc
import itertools
import os
import signal
import sys
import tempfile
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
    """Install the SIGUSR1 (dump) and SIGUSR2 (trim) handlers when the variable names a directory; the
    directory, or None."""
    where = os.environ.get(DUMP_DIR_VARIABLE)
    if not where:
        return None
    directory = Path(where)
    directory.mkdir(parents=True, exist_ok=True)
    counter = itertools.count(1)

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        dump(directory, next(counter))

    def on_trim(_signum: int, _frame: FrameType | None) -> None:
        trim(directory)

    signal.signal(signal.SIGUSR1, on_signal)
    signal.signal(signal.SIGUSR2, on_trim)
    return directory


def trim(directory: Path) -> None:
    """glibc's malloc_trim(0): hand the arenas' free pages back to the system; RSS before and after in trim.txt.
    What it gives back was free memory the allocator kept (fragmentation, an old peak), not live objects."""
    gc.collect()
    before = process_stats()["rssMb"]
    malloc_trim = getattr(_libc(), "malloc_trim", None)
    released = malloc_trim(0) if malloc_trim is not None else None
    with (directory / "trim.txt").open("a") as out:
        out.write(f"rssMb before {before} after {process_stats()['rssMb']} released {released}\n")


def dump(directory: Path, n: int) -> None:
    lines = [
        f"pid {os.getpid()}",
        f"gc stats {gc.get_stats()}",  # collections so far per generation, and what they found unreachable
        *_collect(),
        f"stats {process_stats()}",
        f"threads {_threads()}",
        f"rss by mapping (KiB) {_rss_by_mapping()}",
        f"malloc {_malloc_figures()}",
        f"pymalloc {_pymalloc_summary()}",
    ]
    if tracemalloc.is_tracing():
        current, peak = tracemalloc.get_traced_memory()
        lines.append(f"tracemalloc current={current} peak={peak} overhead={tracemalloc.get_tracemalloc_memory()}")
        tracemalloc.take_snapshot().dump(str(directory / f"heap-{n}.tracemalloc"))
    counts = collections.Counter(_type_name(obj) for obj in gc.get_objects())
    lines.append(f"gc objects {sum(counts.values())}")
    lines += [f"{count:>10} {name}" for name, count in counts.most_common(TOP_TYPES)]
    (directory / f"heap-{n}.txt").write_text("\n".join(lines) + "\n")


def _collect() -> list[str]:
    """A full collection, and what it found unreachable (objects in reference cycles) counted by type."""
    flags = gc.get_debug()
    gc.set_debug(flags | gc.DEBUG_SAVEALL)  # what is found goes to gc.garbage instead of being freed
    try:
        found = gc.collect()
        garbage = collections.Counter(_type_name(obj) for obj in gc.garbage)
    finally:
        gc.set_debug(flags)
        gc.garbage.clear()
    gc.collect()  # now free it
    lines = [f"gc collect: {found} unreachable objects found, by a full collection now"]
    return lines + [f"  garbage {count:>8} {name}" for name, count in garbage.most_common(40)]


def _type_name(obj: object) -> str:
    kind = type(obj)
    return f"{kind.__module__}.{kind.__qualname__}"


def _threads() -> int | None:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return None


def _rss_by_mapping() -> dict[str, int]:
    """Resident KiB by kind of mapping: the brk heap, anonymous mmaps (big mallocs, thread arenas and stacks,
    pymalloc's arenas), and files (libraries' pages touched so far)."""
    totals: collections.Counter[str] = collections.Counter()
    kind = "anon"
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/smaps").read_text().splitlines():
            fields = line.split()
            if not fields:
                continue
            if not fields[0].endswith(":"):  # a mapping: range perms offset dev inode [path]
                path = fields[5] if len(fields) > 5 else ""
                kind = path if path.startswith("[") else "file" if path else "anon"
            elif fields[0] == "Rss:":
                totals[kind] += int(fields[1])
    return dict(totals)


def _pymalloc_summary() -> dict[str, int]:
    """pymalloc's arenas and bytes, from sys._debugmallocstats (which can only write to the C stderr)."""
    figures: dict[str, int] = {}
    with tempfile.TemporaryFile("w+") as out:
        saved = os.dup(2)
        try:
            sys.stderr.flush()
            os.dup2(out.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        for line in out:
            name, _, value = line.partition("=")
            if name.startswith("Total"):  # the first is the arenas' total; the next ones are other figures
                figures.setdefault("arenas bytes", int(value.strip().replace(",", "")))
            elif name.startswith(("# arenas", "# bytes in")):
                figures[" ".join(name.strip("# ").split())] = int(value.strip().replace(",", ""))
    return figures


def _malloc_figures() -> dict[str, int] | None:
    """glibc's mallinfo2: bytes in use (uordblks), free but kept in the arenas (fordblks), mmapped (hblkhd)."""
    mallinfo2 = getattr(_libc(), "mallinfo2", None)  # glibc 2.33 and later
    if mallinfo2 is None:
        return None
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()
    return {field: int(getattr(info, field)) for field in ("arena", "hblkhd", "uordblks", "fordblks")}


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None
