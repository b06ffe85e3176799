"""``make bench-cluster``: callbridge as several nodes on this machine, in one run, on PostgreSQL.

``callbridge serve --workers 2`` (two nodes sharing the public port with SO_REUSEPORT, each with its own node
port) against one single-node process, each on a fresh database of the same PostgreSQL server, both running
through the whole run. The same bridged calls as ``make bench`` (bench/steps.py: the emulator's marker users and
a load generator's browsers), stepped up alternately on the two until each falls behind (frames late or the event
loop lagging: the main bench's knee). Figures: calls per box and per node process, and their ratio to the single
process; gateway CPU per call summed over both workers against the single process at the same call count; how
evenly new connections spread the calls over the workers (each ``/call/make`` on a connection of its own, each
call's ``Node`` counted); and the forwarding overhead of call-scoped requests (bench/cluster_forwarding.py).
Results go to bench/results/cluster.json and cluster.md.

    CALLBRIDGE_TEST_DATABASE_URL=$(scripts/test-postgres.sh) python -m bench.cluster            # full (~10 min)
    CALLBRIDGE_TEST_DATABASE_URL=$(scripts/test-postgres.sh) python -m bench.cluster --smoke    # 2 calls, < 1 min

The URL is a PostgreSQL role that may create databases; the run creates its own two and drops them after.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from bench.cluster_forwarding import measure_forwarding
from bench.cluster_report import markdown, notes, summary
from bench.harness import RESULTS, Bench, GatewayUnderTest, machine, save_results
from bench.steps import callbridge_step, capacity, cpu_per_call
from callbridge.testing import free_port
from callbridge.testing.postgres import throwaway_database

WORKERS = 2


@dataclass
class Plan:
    smoke: bool
    settle: float
    window: float
    schedule: list[int]
    requests: int  # of each call-scoped request, each way
    streams: int  # event streams opened each way


FULL = Plan(False, 2.0, 8.0, [4, 8, 16, 24, 28, 32, 36, 40, 44, 48, 56, 64], 300, 40)
SMOKE = Plan(True, 1.0, 3.0, [2], 20, 3)


def run(plan: Plan, admin_url: str) -> dict[str, Any]:
    results: dict[str, Any] = {
        "mode": "smoke" if plan.smoke else "full",
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": machine(),
        "workers_n": WORKERS,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    with (
        tempfile.TemporaryDirectory(prefix="callbridge-bench-cluster-") as tmp,
        throwaway_database(admin_url, "cb_bench") as single_db,
        throwaway_database(admin_url, "cb_bench") as box_db,
    ):
        bench = Bench(Path(tmp), plan.smoke)
        try:
            bench.start_emulator()
            single = bench.start_gateway(0, single_db)
            box = bench.start_gateway(1, box_db, workers=WORKERS, node_port=free_port_pair(WORKERS))
            results["nodes"] = {w.name: w.node for w in box.workers}
            print(f"forwarding ({plan.requests} requests each way, {plan.streams} event streams):", flush=True)
            results["forwarding"] = measure_forwarding(box, plan.requests, plan.streams)
            print(json.dumps({k: v for k, v in results["forwarding"].items() if k.startswith("/")}), flush=True)
            box.placed.clear()  # the spread is counted over the capacity steps' calls only
            results.update(measure_capacity(bench, plan, single, box))
        finally:
            bench.stop()
    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["summary"] = summary(results)
    results["notes"] = notes(results)
    return results


def measure_capacity(bench: Bench, plan: Plan, single: GatewayUnderTest, box: GatewayUnderTest) -> dict[str, Any]:
    """The two systems stepped up alternately (the same call count on each, back to back, so that what else the
    machine does weighs on both alike), each until a step fails; each step's calls counted by worker."""
    print("capacity, one process and two workers alternately:", flush=True)
    steps: dict[str, list[dict[str, Any]]] = {"single": [], "workers": []}
    knee = {"single": 0, "workers": 0}
    going = ["single", "workers"]
    names = {w.node: w.name for w in box.workers}
    for n in plan.schedule:
        for system in list(going):
            gw = single if system == "single" else box
            print(f"  {system}", flush=True)
            placed = len(box.placed)
            passed = capacity(partial(bridged_step, bench, plan, gw), [n], steps[system])
            if system == "workers":
                by_node = Counter(node for _, node in box.placed[placed:])
                steps[system][-1]["calls_by_worker"] = {names.get(k, k): by_node.get(k, 0) for k in names} | {
                    k: v for k, v in by_node.items() if k not in names
                }
                print(f"    calls by worker: {steps[system][-1]['calls_by_worker']}", flush=True)
            if passed:
                knee[system] = n
            else:
                going.remove(system)
        if not going:
            break
    out: dict[str, Any] = {}
    for system in ("single", "workers"):
        slope, fixed = cpu_per_call(steps[system])
        out[system] = {"capacity": knee[system], "steps": steps[system], "cpu_ms_per_call_s": slope}
        out[system]["cpu_fixed_ms_per_s"] = fixed
    spread: Counter[str] = Counter()
    for step in steps["workers"]:
        spread.update(step["calls_by_worker"])
    out["workers"]["calls_by_worker"] = dict(spread)
    return out


def bridged_step(bench: Bench, plan: Plan, gw: GatewayUnderTest, n: int) -> dict[str, Any]:
    return callbridge_step(bench, n, settle=plan.settle, window=plan.window, gateways=[gw])


def free_port_pair(count: int) -> int:
    """A free port whose next ``count - 1`` are free too (``--workers N`` gives its workers node ports P..P+N-1)."""
    for _ in range(50):
        base = free_port()
        with contextlib.ExitStack() as stack:
            try:
                for i in range(count):
                    stack.enter_context(socket.socket()).bind(("127.0.0.1", base + i))
            except OSError:
                continue
            return base
    raise RuntimeError(f"no {count} consecutive free ports")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="2 calls, a few seconds: check the figures are produced")
    parser.add_argument("--out", type=Path, default=RESULTS / "cluster.json")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("CALLBRIDGE_TEST_DATABASE_URL"),
        help="PostgreSQL (a role that may create databases); default: $CALLBRIDGE_TEST_DATABASE_URL",
    )
    args = parser.parse_args()
    if not args.database_url or not args.database_url.startswith("postgresql"):
        print("error: several nodes need PostgreSQL: set CALLBRIDGE_TEST_DATABASE_URL (make bench-cluster does)",
              file=sys.stderr)  # fmt: skip
        return 2
    started = time.monotonic()
    results = run(SMOKE if args.smoke else FULL, args.database_url)
    results["seconds"] = round(time.monotonic() - started, 1)
    table = markdown(results)
    save_results(args.out, results, table)
    print("\n" + table)
    print(f"results: {args.out} ({results['seconds']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
