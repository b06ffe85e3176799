"""Where the gateway's busy time goes: py-spy samples it from outside the process during a step, and the folded
stacks are summed by leaf function and by area (SRTP, ICE, RTP, codec, callbridge, the loop...)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.harness import Bench, GatewayUnderTest
from bench.steps import callbridge_step

CALLS = 12  # a moderate load: busy, well under the knee

AREAS = [
    ("srtp (pylibsrtp)", ("pylibsrtp", "srtp")),
    ("ice/stun (aioice)", ("aioice",)),
    ("rtp/rtcp (aiortc)", ("aiortc/rtcrtp", "aiortc/rtp", "aiortc/rtcdtlstransport", "aiortc/rate")),
    ("dtls/crypto", ("OpenSSL", "cryptography", "rtcdtlstransport")),
    ("opus codec (PyAV)", ("av/", "opus")),
    ("callbridge lean path", ("callbridge/media/lean/",)),
    ("callbridge", ("callbridge/",)),
    ("asyncio loop", ("asyncio/", "selectors")),
    ("http (uvicorn, starlette)", ("uvicorn", "starlette", "fastapi", "h11", "httpx", "httpcore")),
]


IDLE = (
    "EpollSelector.select",
    "_connection_worker_thread (aiosqlite/core.py:59)",
    "wait (threading.py",
    "get (queue.py",
    "_worker (concurrent/futures/thread.py",
)


def profile(bench: Bench, gateway_under_test: GatewayUnderTest | None = None) -> dict[str, Any] | None:
    """Profile a gateway (the first one by default) through a step of :data:`CALLS` calls; None without py-spy."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        return None
    out = bench.workdir / "profile.txt"
    under_test = gateway_under_test or bench.gateways[0]
    gateway = under_test.measured.server
    spy = subprocess.Popen(
        [
            py_spy,
            "record",
            "--pid",
            str(gateway.pid),
            "--duration",
            "6",
            "--rate",
            "200",
            "--format",
            "raw",
            "--output",
            str(out),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    callbridge_step(bench, CALLS, settle=1.0, window=6.0, gateways=[under_test])
    spy.wait(timeout=30)
    if not out.exists():
        return None
    return summarise_profile(out.read_text())


def summarise_profile(raw: str) -> dict[str, Any]:
    """Folded stacks → share of busy samples by leaf function and by area (a sample counts for its leaf).
    Threads waiting (the loop in epoll, idle worker threads) are not busy and are left out."""
    leaves: dict[str, int] = {}
    areas: dict[str, int] = {}
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit() or any(idle in stack.split(";")[-1] for idle in IDLE):
            continue
        samples = int(count)
        total += samples
        leaf = stack.split(";")[-1]
        leaves[leaf] = leaves.get(leaf, 0) + samples
        area = next((name for name, keys in AREAS if any(k in leaf for k in keys)), "other")
        areas[area] = areas.get(area, 0) + samples
    share = lambda n: round(100 * n / total, 1) if total else 0.0  # noqa: E731
    top = sorted(leaves.items(), key=lambda kv: kv[1], reverse=True)[:12]
    return {
        "samples": total,
        "by_area_pct": {k: share(v) for k, v in sorted(areas.items(), key=lambda kv: kv[1], reverse=True)},
        "top_functions_pct": [[name, share(n)] for name, n in top],
    }
