"""Where the lean path's time goes, measured in place: plain bridged calls on one gateway (lean path, its own core,
the load on the others), with the path's parts timed from inside the gateway process.

A sampling profiler does not help here: py-spy either pauses the process 200 times a second (which changes what it
measures) or misses most of a 50 us packet. So a ``sitecustomize`` given to the gateway alone wraps the parts of
the path in two ``perf_counter`` reads each and keeps running totals, which this script reads before and after
the window. Per packet forwarded: the whole of our receive call, SRTP (in C), ``sendto`` (mostly the kernel
delivering to the peer and waking it), the rest of our Python, and, from the process's CPU time, what lies
outside our code (the event loop, reading the socket, timers). The wrappers add ~1 us per packet.

    python -m bench.spans                     # 40 calls on stock asyncio; --loop uvloop, --calls N
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.child_site import site_environment
from bench.harness import RESULTS, Bench, machine, save_results
from bench.paths import cores_apart
from bench.steps import browsers_plan, marker_calls

SITECUSTOMIZE = """
import json, os, threading, time
from callbridge.media.inbound import InboundAudio
from callbridge.media.lean.leg_path import LeanLegPath
from callbridge.media.lean.srtp import InPlaceSrtp

_totals = {}
_clock = time.perf_counter

def _timed(owner, name, key):
    inner = getattr(owner, name)
    entry = _totals.setdefault(key, [0.0, 0])
    def timed(*args):
        started = _clock()
        try:
            return inner(*args)
        finally:
            entry[0] += _clock() - started
            entry[1] += 1
    setattr(owner, name, timed)

_timed(LeanLegPath, "_datagram", "receive")  # the handler the socket tap calls for every SRTP/SRTCP datagram
_timed(InPlaceSrtp, "unprotect", "unprotect")
_timed(InPlaceSrtp, "protect", "protect")
_timed(LeanLegPath, "_sendto", "sendto")
_timed(InboundAudio, "on_rtp", "inbound")

def _dump(path):
    while True:
        time.sleep(0.5)
        with open(path + ".tmp", "w") as out:
            json.dump({"totals": _totals, "cpu": time.process_time()}, out)
        os.replace(path + ".tmp", path)

threading.Thread(target=_dump, args=(os.environ["CALLBRIDGE_BENCH_SPANS"],), daemon=True).start()
"""


def measure(calls: int, loop: str, window: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="callbridge-spans-") as tmp:
        spans = Path(tmp) / "spans.json"
        bench = Bench(Path(tmp), smoke=False)
        try:
            bench.start_emulator()
            extra = {**site_environment(Path(tmp), "site", SITECUSTOMIZE), "CALLBRIDGE_BENCH_SPANS": str(spans)}
            gateway = bench.start_gateway(1, media_path="lean", event_loop=loop, extra_env=extra)
            ids = [call_id for _, call_id in marker_calls([gateway], calls)]
            plan = browsers_plan(gateway, ids, hold=window + 10)
            with cores_apart([gateway.measured.server.pid], bench.emulator.server.pid) as cores:
                proc, _ = bench.loadgen(plan)
                time.sleep(3)
                before, t0 = _read(spans), time.monotonic()
                time.sleep(window)
                after, t1 = _read(spans), time.monotonic()
                proc.kill()
            return _figures(before, after, t1 - t0, calls, loop, cores)
        finally:
            bench.stop()


def _read(path: Path) -> dict[str, Any]:
    time.sleep(0.6)  # a fresh dump: the gateway writes one every 0.5 s
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _figures(
    before: dict[str, Any], after: dict[str, Any], seconds: float, calls: int, loop: str, cores: Any
) -> dict[str, Any]:
    spent = {k: after["totals"][k][0] - before["totals"].get(k, [0.0, 0])[0] for k in after["totals"]}
    counted = {k: after["totals"][k][1] - before["totals"].get(k, [0.0, 0])[1] for k in after["totals"]}
    packets = counted["receive"]
    cpu = after["cpu"] - before["cpu"]

    def us(seconds_spent: float) -> float:
        return round(seconds_spent / packets * 1e6, 1) if packets else 0.0

    srtp = spent["unprotect"] + spent["protect"]
    reading = spent["receive"] - spent["inbound"] - spent["unprotect"]  # demux, read, reception statistics
    forwarding = spent["inbound"] - spent["protect"] - spent["sendto"]  # jitter buffer, router, timeline, write
    return {
        "calls": calls,
        "loop": loop,
        "cores": cores,
        "packets_per_s": round(packets / seconds),
        "cpu_ms_per_call_s": round(cpu / seconds * 1000 / calls, 2),
        "us_per_packet": {
            "all (process CPU)": us(cpu),
            "receive call, whole": us(spent["receive"]),
            "srtp (unprotect + protect)": us(srtp),
            "sendto": us(spent["sendto"]),
            "our python (the rest of the call)": us(reading + forwarding),
            "  of it reading (demux, header, reception statistics)": us(reading),
            "  of it forwarding (jitter buffer, router, timeline, write)": us(forwarding),
            "outside our code (loop, socket reads, timers)": us(cpu - spent["receive"]),
        },
    }


def markdown(found: list[dict[str, Any]]) -> str:
    lines = [
        "## Where the lean path's time goes, in place (bench/spans.py)",
        "",
        "Plain bridged calls, the gateway on its own core; microseconds per packet forwarded (one packet in, one out).",
        "",
        "| loop | calls | ms CPU/s per call | " + " | ".join(found[0]["us_per_packet"]) + " |",
        "|---|---|---|" + "---|" * len(found[0]["us_per_packet"]),
    ]
    for f in found:
        cells = " | ".join(str(v) for v in f["us_per_packet"].values())
        lines.append(f"| {f['loop']} | {f['calls']} | {f['cpu_ms_per_call_s']} | {cells} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--loop", action="append", choices=["asyncio", "uvloop"])
    parser.add_argument("--window", type=float, default=8.0)
    args = parser.parse_args()
    found = [measure(args.calls, loop, args.window) for loop in args.loop or ["asyncio"]]
    result = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": machine(), "runs": found}
    save_results(RESULTS / "spans.json", result, markdown(found))
    print(markdown(found))


if __name__ == "__main__":
    main()
