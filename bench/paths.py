"""The media paths side by side (issue 16): plain bridged calls on aiortc's packet path and on the lean one, each
on stock asyncio and on uvloop (when installed), in one run, each in its own gateway process with nothing else
on it. The steps alternate between the variants at each number of calls, so a change in what else the machine
is doing lands on all of them alike: compare them as ratios within the run. As the forwarding floor was measured
(shared/reference/aiortc-media.md), the gateways run on a core of their own and the load (the emulator, the load
generators, the bench) on the others, where the machine has two or more.

    python -m bench.run --paths          # only this comparison (a few minutes)
"""

from __future__ import annotations

import importlib.util
import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psutil

from bench import floor
from bench.harness import Bench, GatewayUnderTest
from bench.profiling import profile
from bench.steps import callbridge_step, cpu_per_call

REFERENCE = "aiortc/asyncio"
SCHEDULE = [10, 20, 40]
SMOKE_SCHEDULE = [2]
BEYOND = 100  # calls in one process the lean path is asked to carry (issue 16); aiortc's path is not asked


def variants(smoke: bool = False) -> list[tuple[str, str]]:
    """(media path, event loop) pairs this machine can run: uvloop only where it is installed (and not in the
    smoke run, which checks the harness). "floor" is the lean path cut down to a bare forwarder (bench/floor.py)."""
    uvloop = importlib.util.find_spec("uvloop") is not None and not smoke
    loops = ["asyncio", "uvloop"] if uvloop else ["asyncio"]
    return [(path, loop) for path in ("aiortc", "lean", "floor") for loop in loops]


def start(bench: Bench, index: int, path: str, loop: str) -> GatewayUnderTest:
    if path == "floor":
        extra = floor.environment(bench.workdir)
        return bench.start_gateway(index, media_path="lean", event_loop=loop, extra_env=extra)
    return bench.start_gateway(index, media_path=path, event_loop=loop)


def measure_media_paths(bench: Bench, settle: float, window: float, schedule: list[int]) -> dict[str, Any]:
    print("media paths: plain bridged calls, aiortc's path, the lean one and the floor", flush=True)
    gateways = {
        f"{path}/{loop}": start(bench, 2 + i, path, loop) for i, (path, loop) in enumerate(variants(smoke=bench.smoke))
    }
    steps: dict[str, list[dict[str, Any]]] = {name: [] for name in gateways}
    load: list[list[float]] = []
    with cores_apart([g.measured.server.pid for g in gateways.values()], bench.emulator.server.pid) as cores:
        _steps(bench, gateways, steps, load, settle, window, schedule)
        beyond = {} if bench.smoke else _beyond(bench, gateways, settle, window)
        profiles = {} if bench.smoke else {name: profile(bench, gateway) for name, gateway in gateways.items()}
    figures = {name: _figures(found) for name, found in steps.items()}
    for name, found in figures.items():
        if name.startswith("floor/") and not all(found["floor_forwarded"].values()):
            raise RuntimeError(f"{name} fell back to the lean path: {found['floor_forwarded']} packets forwarded bare")
    reference = figures.get(REFERENCE)
    for found in figures.values():
        if reference is not None:
            found["ratio_to_aiortc"] = {
                str(n): _ratio(found["per_call_ms_s"][str(n)], reference["per_call_ms_s"][str(n)]) for n in schedule
            }
            # A slope needs two steps that kept up on both sides; otherwise it is one step's average: no ratio.
            sloped = found["passed_steps"] >= 2 and reference["passed_steps"] >= 2
            found["slope_ratio_to_aiortc"] = _ratio(found["slope_ms_s"], reference["slope_ms_s"]) if sloped else None
    return {
        "schedule": schedule,
        "cores": cores,  # where the gateways and the load ran (None: not pinned)
        "load_average_before_each_n": load,
        "variants": figures,
        "beyond": beyond,  # the lean variants at BEYOND calls, with what the load took
        "profiles": profiles,  # where each variant's busy time goes at a moderate load (py-spy)
        "steps": steps,
    }


def _steps(
    bench: Bench,
    gateways: dict[str, GatewayUnderTest],
    steps: dict[str, list[dict[str, Any]]],
    load: list[list[float]],
    settle: float,
    window: float,
    schedule: list[int],
) -> None:
    for n in schedule:
        load.append([round(x, 2) for x in os.getloadavg()])
        for name, gateway in gateways.items():
            result = callbridge_step(bench, n, settle=settle, window=window, gateways=[gateway])
            steps[name].append(result)
            print(
                f"  {name:15s} {n:3d} calls: {result['cpu_ms_per_call_s']:5.1f} ms CPU/s per call, on time"
                f" {result['on_time']:.4f}, lag p99 {result['lag']['p99']} ms, load generator"
                f" {result['cpu_ms_per_s'].get('loadgen', 0):.0f} ms/s",
                flush=True,
            )


def _beyond(
    bench: Bench, gateways: dict[str, GatewayUnderTest], settle: float, window: float
) -> dict[str, dict[str, Any]]:
    """Each lean variant (and the floor) alone at :data:`BEYOND` calls: does one process carry them, and what did
    the load take (the emulator's users and the browsers share the other core: where it is full, they are the
    bound)."""
    found = {}
    for name, gateway in gateways.items():
        if name.startswith("aiortc/"):
            continue
        result = callbridge_step(bench, BEYOND, settle=settle, window=window, gateways=[gateway])
        cpu = result["cpu_ms_per_s"]
        found[name] = {
            "calls": BEYOND,
            "per_call_ms_s": result["cpu_ms_per_call_s"],
            "on_time": result["on_time"],
            "lag_p99_ms": result["lag"]["p99"],
            "latency_p50_ms": [
                result["latency_ms"]["whatsapp_to_browser"]["p50"],
                result["latency_ms"]["browser_to_whatsapp"]["p50"],
            ],
            "load_cpu_ms_s": {"emulator": cpu.get("emulator"), "load generator": cpu.get("loadgen")},
            "passed": result["passed"],
        }
        print(
            f"  {name:15s} {BEYOND:3d} calls: {result['cpu_ms_per_call_s']:5.1f} ms CPU/s per call, on time"
            f" {result['on_time']:.4f}, emulator + load generator"
            f" {cpu.get('emulator', 0) + cpu.get('loadgen', 0):.0f} ms/s",
            flush=True,
        )
    return found


@contextmanager
def cores_apart(gateways: list[int], emulator: int) -> Iterator[dict[str, list[int]] | None]:
    """The gateways on the last core, the emulator and this process (so the load generators it starts) on the
    rest, until the block ends; nothing changes on a single core."""
    everything = os.sched_getaffinity(0)
    cores = sorted(everything)
    if len(cores) < 2:
        yield None
        return
    mine, theirs = {cores[-1]}, set(cores[:-1])
    for pid in gateways:
        _pin(pid, mine)
    _pin(emulator, theirs)
    os.sched_setaffinity(0, theirs)
    try:
        yield {"gateways": sorted(mine), "load": sorted(theirs)}
    finally:
        for pid in [*gateways, emulator]:
            _pin(pid, everything)
        os.sched_setaffinity(0, everything)


def _pin(pid: int, cores: set[int]) -> None:
    """Every thread of ``pid`` (threads it starts later inherit from theirs)."""
    for thread in psutil.Process(pid).threads():
        os.sched_setaffinity(thread.id, cores)


def _figures(steps: list[dict[str, Any]]) -> dict[str, Any]:
    slope, fixed = cpu_per_call(steps)
    cpu = [(s["calls"], s["sut_cpu_ms_per_s"]) for s in steps]
    return {
        "slope_ms_s": slope,  # what one more call costs (over the steps that kept up)
        "fixed_ms_s": fixed,
        "passed_steps": sum(1 for s in steps if s["passed"]),
        # the same between each two steps, whether they kept up or not (a busy machine fails steps for all)
        "marginal_ms_s": {f"{a}-{b}": round((cb - ca) / (b - a), 1) for (a, ca), (b, cb) in itertools.pairwise(cpu)},
        "per_call_ms_s": {str(s["calls"]): s["cpu_ms_per_call_s"] for s in steps},  # average, fixed cost included
        "on_time": {str(s["calls"]): s["on_time"] for s in steps},
        "lag_p99_ms": {str(s["calls"]): s["lag"]["p99"] for s in steps},
        "latency_p50_ms": {
            str(s["calls"]): [
                s["latency_ms"]["whatsapp_to_browser"]["p50"],
                s["latency_ms"]["browser_to_whatsapp"]["p50"],
            ]
            for s in steps
        },
        "loadgen_cpu_ms_s": {str(s["calls"]): s["cpu_ms_per_s"].get("loadgen") for s in steps},
        "forwarded_untouched": all(s["routing"]["whatsapp"]["outbound"].get("encoded", 0) == 0 for s in steps),
        "floor_forwarded": {str(s["calls"]): s["routing"].get("floor_forwarded", 0) for s in steps},
    }


def _cores(cores: dict[str, list[int]] | None) -> str:
    if not cores:
        return "Not pinned: gateways and load shared every core."
    return f"Gateways pinned to core(s) {cores['gateways']}, the emulator and load generators to {cores['load']}."


def _ratio(value: float | None, reference: float | None) -> float | None:
    return round(value / reference, 3) if value is not None and reference else None


def markdown(paths: dict[str, Any]) -> str:
    schedule = [str(n) for n in paths["schedule"]]
    head = " | ".join(f"{n} calls" for n in schedule)
    lines = [
        "## Media paths, plain bridged calls (ms of gateway CPU per call per second; x: ratio to aiortc/asyncio)",
        "",
        f"Load average before each step: {paths['load_average_before_each_n']}. " + _cores(paths.get("cores")),
        "",
        f"| variant | {head} | one more call, between steps | on time | lag p99 (ms) | latency p50 W→B / B→W (ms) |",
        "|---|" + "---|" * (len(schedule) + 4),
    ]
    for name, found in paths["variants"].items():
        ratios = found.get("ratio_to_aiortc", {})
        cells = [f"{found['per_call_ms_s'][n]} (x{ratios.get(n)})" for n in schedule]
        on_time = " / ".join(str(found["on_time"][n]) for n in schedule)
        lag = " / ".join(str(found["lag_p99_ms"][n]) for n in schedule)
        latency = " / ".join(f"{a}, {b}" for a, b in (found["latency_p50_ms"][n] for n in schedule))
        slope = ", ".join(f"{k}: {v}" for k, v in found["marginal_ms_s"].items())
        lines.append(f"| {name} | {' | '.join(cells)} | {slope} | {on_time} | {lag} | {latency} |")
    beyond = paths.get("beyond") or {}
    if beyond:
        lines += [
            "",
            f"{BEYOND} calls in one process (the load on the other core: the emulator's users, the browsers):",
            "",
            "| variant | ms CPU/s per call | on time | lag p99 (ms) | latency p50 W→B, B→W (ms) | load (ms CPU/s) |",
            "|---|---|---|---|---|---|",
        ]
        for name, found in beyond.items():
            load = ", ".join(f"{k} {v}" for k, v in found["load_cpu_ms_s"].items())
            latency = ", ".join(str(x) for x in found["latency_p50_ms"])
            lines.append(
                f"| {name} | {found['per_call_ms_s']} | {found['on_time']} | {found['lag_p99_ms']} | {latency} |"
                f" {load} |"
            )
    for name, found in (paths.get("profiles") or {}).items():
        if found:
            areas = ", ".join(f"{area} {pct}%" for area, pct in found["by_area_pct"].items())
            lines.append(f"\nWhere {name}'s busy time goes (py-spy): {areas}.")
    return "\n".join(lines) + "\n"
