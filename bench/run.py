"""``make bench``: callbridge against a naive aiortc bridge, on this machine, in one run.

Both systems bridge the same calls: a "WhatsApp" peer and a "browser" peer per call, each sending a tone with a
timing marker twice a second, pre-encoded, and timing the other's markers as packets arrive. For callbridge the
WhatsApp side is the emulator's virtual users, reached through the real Cloud connector; for the baseline it is
a load-generator process. Figures: added one-way latency (clean and lossy), capacity (calls until frames are late
or the event loop lags), CPU and memory per call, leaks, the cost of recording and playback, and what a second
gateway process adds. Then callbridge's other endpoint kinds against the same plain calls: three browsers per call
(talk, listen, whisper), a voice bot per call (Twilio Media Streams over a WebSocket: transcoded) and a native
RTP app per call (Opus: passed through). Results go to bench/results/latest.json and latest.md.

    python -m bench.run            # the full run (< 10 min on 2 cores)
    python -m bench.run --smoke    # 2 calls, 5 s a step: checks the harness, not the numbers
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness import RESULTS, Bench, machine, save_results
from bench.paths import SCHEDULE, SMOKE_SCHEDULE, measure_media_paths
from bench.paths import markdown as paths_markdown
from bench.profiling import profile
from bench.report import TARGETS, markdown, notes, summary
from bench.steps import THREE_ENDPOINTS, baseline_step, callbridge_step, capacity, cpu_per_call


@dataclass
class Plan:
    """How long each step settles and measures, and whether this is the smoke form (2 calls, to check the harness)."""

    smoke: bool
    settle: float
    window: float


def run(smoke: bool, paths_only: bool = False) -> dict[str, Any]:
    """The whole run: every figure for callbridge ("callbridge") and the naive bridge ("baseline"), the summary
    against the targets, and notes; then aiortc's packet path against the lean one. ``paths_only``: just that."""
    plan = Plan(smoke, *((1.0, 5.0) if smoke else (2.0, 8.0)))
    results: dict[str, Any] = {
        "mode": "smoke" if smoke else "full",
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": machine(),
        "targets": TARGETS,
        # What else the machine was doing: the bench shares its cores with whatever runs beside it.
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    with tempfile.TemporaryDirectory(prefix="callbridge-bench-") as tmp:
        bench = Bench(Path(tmp), smoke)
        try:
            bench.start()
            if paths_only:
                schedule = SMOKE_SCHEDULE if smoke else SCHEDULE
                results["media_paths"] = measure_media_paths(bench, plan.settle, plan.window, schedule)
                results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
                return results
            cb: dict[str, Any] = {}
            bl: dict[str, Any] = {}
            measure_latency(bench, plan, cb, bl)
            rss_before = {"callbridge": bench.gateways[0].measured.rss_mb(), "baseline": bench.baseline.rss_mb()}
            measure_capacity(bench, plan, cb, bl)
            measure_memory(bench, plan, cb, bl, rss_before)
            measure_recording_and_playback(bench, plan, cb, bl)
            plain = measure_three_endpoints(bench, plan, cb)
            measure_bots_and_rtp(bench, plan, cb, plain)
            for figures in (cb, bl):
                figures["cpu_ms_per_call_s"], figures["cpu_fixed_ms_per_s"] = cpu_per_call(figures["steps"])
            if not smoke and cb["capacity"]:
                measure_two_processes(bench, plan, cb)
            results["profile"] = profile(bench) if not smoke else None
            schedule = SMOKE_SCHEDULE if smoke else SCHEDULE
            results["media_paths"] = measure_media_paths(bench, plan.settle, plan.window, schedule)
            results["callbridge"], results["baseline"] = cb, bl
        finally:
            bench.stop()
    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["summary"] = summary(results)
    results["notes"] = notes(results)
    return results


def measure_latency(bench: Bench, plan: Plan, cb: dict[str, Any], bl: dict[str, Any]) -> None:
    print("latency (2 calls):", flush=True)
    losses = [0.0] if plan.smoke else [0.0, 0.01, 0.02, 0.05]
    cb["latency"], bl["latency"] = {}, {}
    for loss in losses:
        key = f"loss_{int(loss * 100)}pct"
        cb["latency"][key] = callbridge_step(bench, 2, loss=loss, settle=plan.settle, window=plan.window)
        bl["latency"][key] = baseline_step(bench, 2, loss=loss, settle=plan.settle, window=plan.window)
        print(
            f"  {key}: callbridge {cb['latency'][key]['latency_ms']['whatsapp_to_browser']}, "
            f"baseline {bl['latency'][key]['latency_ms']['whatsapp_to_browser']}",
            flush=True,
        )


def measure_capacity(bench: Bench, plan: Plan, cb: dict[str, Any], bl: dict[str, Any]) -> None:
    print("capacity:", flush=True)
    cb["steps"], bl["steps"] = [], []
    cb_schedule = [2] if plan.smoke else [4, 8, 12, 16, 20, 24, 28, 32, 40, 50, 60, 80, 100]
    bl_schedule = [2] if plan.smoke else [2, 4, 6, 8, 10, 12, 16]
    print("  callbridge", flush=True)
    cb["capacity"] = capacity(
        lambda n: callbridge_step(bench, n, settle=plan.settle, window=plan.window), cb_schedule, cb["steps"]
    )
    print("  baseline", flush=True)
    bl["capacity"] = capacity(
        lambda n: baseline_step(bench, n, settle=plan.settle, window=plan.window), bl_schedule, bl["steps"]
    )


def measure_memory(
    bench: Bench, plan: Plan, cb: dict[str, Any], bl: dict[str, Any], rss_before: dict[str, float]
) -> None:
    time.sleep(3)
    rss_after = {"callbridge": bench.gateways[0].measured.rss_mb(), "baseline": bench.baseline.rss_mb()}
    # Memory that stays after calls is a leak only if it keeps growing: repeat the same calls and compare.
    cycles: dict[str, list[float]] = {"callbridge": [], "baseline": []}
    for _ in range(2 if plan.smoke else 3):
        callbridge_step(bench, 2 if plan.smoke else 8, settle=plan.settle, window=2.0)
        baseline_step(bench, 2, settle=plan.settle, window=2.0)
        time.sleep(2)
        cycles["callbridge"].append(round(bench.gateways[0].measured.rss_mb(), 1))
        cycles["baseline"].append(round(bench.baseline.rss_mb(), 1))
    cb["rss_mb_after_each_repeat"], bl["rss_mb_after_each_repeat"] = cycles["callbridge"], cycles["baseline"]
    for name, figures in (("callbridge", cb), ("baseline", bl)):
        steps = figures["steps"]
        largest = max(steps, key=lambda s: s["calls"])
        figures["rss_mb_per_call"] = round(
            (largest["rss_mb"].get("gateway0", largest["rss_mb"].get("baseline", 0)) - rss_before[name])
            / largest["calls"],
            2,
        )
        figures["rss_growth_after_calls_mb"] = round(rss_after[name] - rss_before[name], 1)


def measure_recording_and_playback(bench: Bench, plan: Plan, cb: dict[str, Any], bl: dict[str, Any]) -> None:
    n = 2 if plan.smoke else 4
    print(f"recording and playback ({n} calls):", flush=True)
    for name, step, figures in (("callbridge", callbridge_step, cb), ("baseline", baseline_step, bl)):
        plain = step(bench, n, settle=plan.settle, window=plan.window / 2)
        recording = step(bench, n, settle=plan.settle, window=plan.window / 2, extra="record")
        playing = step(bench, n, settle=plan.settle, window=plan.window / 2, extra="play")
        figures["recording_cost_ms_per_call_s"] = round(recording["cpu_ms_per_call_s"] - plain["cpu_ms_per_call_s"], 1)
        figures["playback_cost_ms_per_call_s"] = round(playing["cpu_ms_per_call_s"] - plain["cpu_ms_per_call_s"], 1)
        print(
            f"  {name}: recording +{figures['recording_cost_ms_per_call_s']} ms/s, "
            f"playback +{figures['playback_cost_ms_per_call_s']} ms/s per call",
            flush=True,
        )


def measure_three_endpoints(bench: Bench, plan: Plan, cb: dict[str, Any]) -> dict[str, Any]:
    """The same number of calls plain (one browser) and with three endpoints each (the agent talking, a
    supervisor listening, a coach whispering), back to back: CPU per call of each, and their ratio. Returns the
    plain step, the reference for the bots and RTP apps too."""
    n = 1 if plan.smoke else 10
    print(f"three endpoints: talk + listen + whisper ({n} calls):", flush=True)
    plain = callbridge_step(bench, n, settle=plan.settle, window=plan.window)
    three = callbridge_step(bench, n, settle=plan.settle, window=plan.window, endpoints=THREE_ENDPOINTS)
    cb["three_endpoints"] = {
        "calls": n,
        "endpoints": [{"id": e["id"], "role": e["role"], "tone_hz": e["tone_hz"]} for e in THREE_ENDPOINTS],
        "plain_cpu_ms_per_call_s": plain["cpu_ms_per_call_s"],
        "cpu_ms_per_call_s": three["cpu_ms_per_call_s"],
        "ratio_to_plain": round(three["cpu_ms_per_call_s"] / plain["cpu_ms_per_call_s"], 2)
        if plain["cpu_ms_per_call_s"]
        else None,
        "extra_cpu_ms_per_call_s": round(three["cpu_ms_per_call_s"] - plain["cpu_ms_per_call_s"], 1),
        "plain": plain,
        "three": three,
    }
    wa = three["routing"]["whatsapp"]["outbound"]
    print(
        f"  plain {plain['cpu_ms_per_call_s']} ms/s per call (on time {plain['on_time']}), "
        f"three endpoints {three['cpu_ms_per_call_s']} ms/s per call (on time {three['on_time']}, loop lag p99 "
        f"{three['lag']['p99']} ms): x{cb['three_endpoints']['ratio_to_plain']}; WhatsApp leg sent "
        f"{wa.get('forwarded', 0)} forwarded, {wa.get('encoded', 0)} encoded",
        flush=True,
    )
    return plain


def measure_bots_and_rtp(bench: Bench, plan: Plan, cb: dict[str, Any], plain: dict[str, Any]) -> None:
    """The same number of calls as the three-endpoint case, each with a voice bot (a Twilio Media Streams
    WebSocket: the gateway decodes, resamples and re-encodes both ways) and then each with a native RTP app sending
    Opus (which should pass through untouched), against the plain bridged calls measured before the three
    endpoints: latency both ways, CPU per call and its ratio to plain."""
    n = plain["calls"]
    for via, label in (("stream", "voice bot (Twilio Media Streams, μ-law 8 kHz)"), ("rtp", "RTP app (Opus)")):
        step = callbridge_step(bench, n, settle=plan.settle, window=plan.window, via=via)
        latency = step["latency_ms"]
        cb[via] = {
            "calls": n,
            "plain_cpu_ms_per_call_s": plain["cpu_ms_per_call_s"],
            "cpu_ms_per_call_s": step["cpu_ms_per_call_s"],
            "ratio_to_plain": round(step["cpu_ms_per_call_s"] / plain["cpu_ms_per_call_s"], 2)
            if plain["cpu_ms_per_call_s"]
            else None,
            "extra_cpu_ms_per_call_s": round(step["cpu_ms_per_call_s"] - plain["cpu_ms_per_call_s"], 1),
            "latency_ms": {
                "whatsapp_to_endpoint": latency["whatsapp_to_browser"],
                "endpoint_to_whatsapp": latency["browser_to_whatsapp"],
            },
            # A bot's endpoint transcodes inside itself (what it hears is decoded from Opus, what it says encoded to
            # it), so the router's counters show forwarded frames either way; passthrough is asked of RTP/Opus only.
            "passthrough": passthrough(step["routing"]) if via == "rtp" else None,
            "step": step,
        }
        lat = cb[via]["latency_ms"]
        print(
            f"  {label} ({n} calls): {step['cpu_ms_per_call_s']} ms/s per call (x{cb[via]['ratio_to_plain']} of plain "
            f"{plain['cpu_ms_per_call_s']}), on time {step['on_time']}, loop lag p99 {step['lag']['p99']} ms; "
            f"latency WhatsApp→{via} p50/p99 {lat['whatsapp_to_endpoint']['p50']}/{lat['whatsapp_to_endpoint']['p99']}"
            f" ms, {via}→WhatsApp {lat['endpoint_to_whatsapp']['p50']}/{lat['endpoint_to_whatsapp']['p99']} ms"
            + (f"; passthrough {cb[via]['passthrough']}" if via == "rtp" else f"; stream {step['stream']}"),
            flush=True,
        )


def passthrough(routing: dict[str, Any]) -> dict[str, Any]:
    """Whether the calls' media went untouched (from ``/call/stats``): frames the endpoints' inbound decoded,
    frames encoded for the WhatsApp leg and for the endpoints, frames forwarded to WhatsApp."""
    endpoints = routing["endpoints"].values()
    wa = routing["whatsapp"]["outbound"]
    counts = {
        "endpoint_inbound_decoded": sum(e["decoded"] for e in endpoints),
        "endpoint_outbound_encoded": sum(e["outbound"].get("encoded", 0) for e in endpoints),
        "whatsapp_outbound_encoded": wa.get("encoded", 0),
        "whatsapp_outbound_forwarded": wa.get("forwarded", 0),
        "mixes_per_call": routing["mixes_per_call"],
    }
    counts["held"] = (
        counts["endpoint_inbound_decoded"] == 0
        and counts["endpoint_outbound_encoded"] == 0
        and counts["whatsapp_outbound_encoded"] == 0
        and counts["whatsapp_outbound_forwarded"] > 0
    )
    return counts


def measure_two_processes(bench: Bench, plan: Plan, cb: dict[str, Any]) -> None:
    print("scale-out: two gateway processes, half the calls each", flush=True)
    bench.gateways.append(bench.start_gateway(1))
    two_steps: list[dict] = []
    schedule = [cb["capacity"] + 4 * k for k in range(5)]  # from one process's knee upwards
    two_capacity = capacity(
        lambda n: callbridge_step(bench, n, settle=plan.settle, window=plan.window, gateways=bench.gateways),
        schedule,
        two_steps,
    )
    cb["two_processes"] = {"capacity": two_capacity, "steps": two_steps}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="2 calls, 5 s a step: check that the figures are produced")
    parser.add_argument("--paths", action="store_true", help="only aiortc's packet path against the lean one")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    args.out = args.out or RESULTS / ("paths.json" if args.paths else "latest.json")
    started = time.monotonic()
    results = run(args.smoke, args.paths)
    results["seconds"] = round(time.monotonic() - started, 1)
    table = paths_markdown(results["media_paths"]) if args.paths else markdown(results)
    if not args.paths and "media_paths" in results:
        table += "\n" + paths_markdown(results["media_paths"])
    save_results(args.out, results, table)
    print("\n" + table)
    print(f"results: {args.out} ({results['seconds']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
