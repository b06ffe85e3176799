"""The cluster bench's report: two workers against one process, the forwarding overhead, each step, and notes;
the Markdown that goes to bench/results/cluster.md."""

from __future__ import annotations

from typing import Any

from bench.report import ratio


def same_count(results: dict[str, Any]) -> dict[str, Any] | None:
    """The steps of both systems at the same number of calls: the largest that both kept up at (else the largest
    both ran)."""
    single = {s["calls"]: s for s in results["single"]["steps"]}
    box = {s["calls"]: s for s in results["workers"]["steps"]}
    common = sorted(set(single) & set(box))
    if not common:
        return None
    both = [n for n in common if single[n]["passed"] and box[n]["passed"]]
    n = (both or common)[-1]
    return {"calls": n, "single": single[n], "workers": box[n], "both_kept_up": bool(both)}


def spread(calls_by_worker: dict[str, int]) -> dict[str, Any]:
    total = sum(calls_by_worker.values())
    busiest = max(calls_by_worker.values(), default=0)
    return {"calls": total, "busiest_share": round(busiest / total, 3) if total else None}


def summary(results: dict[str, Any]) -> list[dict[str, Any]]:
    single, box = results["single"], results["workers"]
    workers = results["workers_n"]
    rows: list[dict[str, Any]] = []

    def row(measure: str, ours: Any, theirs: Any) -> None:
        both = isinstance(ours, int | float) and isinstance(theirs, int | float)
        rows.append(
            {"measure": measure, "workers": ours, "single": theirs, "ratio": ratio(ours, theirs) if both else None}
        )

    row("concurrent bridged calls (the knee: frames on time ≥ 99.5%, loop lag p99 < 20 ms)", box["capacity"],
        single["capacity"])  # fmt: skip
    knee_step = next((s for s in box["steps"] if s["calls"] == box["capacity"]), None)
    per_worker = knee_step["calls_by_worker"] if knee_step else {}
    row(f"calls per node process at the knee (mean of {workers} workers)", round(box["capacity"] / workers, 1),
        single["capacity"])  # fmt: skip
    row("calls on the busiest worker at the knee", max(per_worker.values(), default=0), single["capacity"])
    row("gateway CPU per bridged call, marginal (ms/s; workers summed)", box["cpu_ms_per_call_s"],
        single["cpu_ms_per_call_s"])  # fmt: skip
    row("gateway CPU with no calls (ms/s; intercept of the same fit)", box["cpu_fixed_ms_per_s"],
        single["cpu_fixed_ms_per_s"])  # fmt: skip
    if (same := same_count(results)) is not None:
        row(f"gateway CPU per call at {same['calls']} calls (ms/s, average; workers summed)",
            same["workers"]["cpu_ms_per_call_s"], same["single"]["cpu_ms_per_call_s"])  # fmt: skip
    total = spread(box["calls_by_worker"])
    rows.append({
        "measure": f"calls by worker over the capacity steps ({total['calls']} calls, a new connection each)",
        "workers": " / ".join(f"{k} {v}" for k, v in sorted(box["calls_by_worker"].items())),
        "single": None,
        "ratio": None,
    })  # fmt: skip
    row("share of the busiest worker (0.5 is even)", total["busiest_share"], None)
    return rows


def forwarding_rows(forwarding: dict[str, Any]) -> list[list[Any]]:
    """Per request: owner p50/p99, forwarded p50/p99, overhead p50/p99 (ms)."""
    out = []
    for path, figures in forwarding.items():
        if not path.startswith("/"):
            continue
        if path == "/call/events":
            owner, fwd, label = figures["first_byte_owner_ms"], figures["first_byte_forwarded_ms"], "first byte"
        else:
            owner, fwd, label = figures["owner_ms"], figures["forwarded_ms"], "response"
        extra = figures["overhead_ms"]
        out.append([f"GET {path}?CallID= ({label}, n={owner['n']} each way)", owner["p50"], owner["p99"], fwd["p50"],
                    fwd["p99"], extra["p50"], extra["p99"]])  # fmt: skip
    return out


def notes(results: dict[str, Any]) -> list[str]:
    out = []
    if results["mode"] == "smoke":
        out.append("Smoke run (2 calls): it checks that the harness produces every figure; the figures mean little.")
    cores = results["machine"]["cores"]
    start, end = results["load_average_at_start"], results["load_average_at_end"]
    out.append(
        f"Load average {start[0]} at the start and {end[0]} at the end on {cores} cores. Other work shares this "
        "machine, and the load generators (the emulator's users and the browsers) run on the same cores as the "
        "gateways: absolute figures move from run to run; the ratios compare the two systems within this run, "
        "measured alternately at each call count."
    )
    for system, label in (("single", "One process"), ("workers", f"{results['workers_n']} workers")):
        failed = next((s for s in results[system]["steps"] if not s["passed"]), None)
        if failed is None:
            out.append(f"{label}: kept up at every step of the schedule (the knee is at least the last step).")
            continue
        gateway = sum(v for k, v in failed["cpu_ms_per_s"].items() if k.startswith("gateway"))
        out.append(
            f"{label}: at {failed['calls']} calls frames on time {failed['on_time']}, event-loop lag p99 "
            f"{failed['lag']['p99']} ms; the machine used {failed['machine_cpu_ms_per_s']:.0f} of its {cores * 1000} "
            f"ms of CPU per second, the gateway {gateway:.0f} of them"
            + (f" (calls by worker {failed['calls_by_worker']})" if "calls_by_worker" in failed else "")
            + "."
        )
    fwd = results["forwarding"]
    out.append(
        f"Forwarding: {fwd['calls']} live calls on the two workers ({fwd['calls_by_worker']}); each request sent "
        "to a worker's own node port, the owner's or the other's (which forwards it to the owner over HTTP with "
        "the cluster secret and streams the answer back), alternating, one keep-alive connection per worker."
    )
    return out


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    fmt = lambda v: "" if v is None else str(v)  # noqa: E731
    n = results["workers_n"]
    lines = [
        f"Run {results['started']} ({results['mode']}) on {m['cores']} cores ({m['cpu']}), Python {m['python']}, "
        f"aiortc {m['aiortc']}, PyAV {m['av']}; PostgreSQL; load average {results['load_average_at_start'][0]} at "
        f"the start, {results['load_average_at_end'][0]} at the end.",
        "",
        f"| Measure | `serve --workers {n}` | one process | ratio |",
        "|---|---|---|---|",
    ]
    for r in results["summary"]:
        lines.append(f"| {r['measure']} | {fmt(r['workers'])} | {fmt(r['single'])} | {fmt(r['ratio'])} |")
    lines += [
        "",
        "Forwarding overhead per call-scoped request (ms): through the worker that owns the call, through the other.",
        "",
        "| Request | owner p50 | owner p99 | non-owner p50 | non-owner p99 | overhead p50 | overhead p99 |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in forwarding_rows(results["forwarding"])]
    lines += [
        "",
        "Steps (alternately, the same call count on each):",
        "",
        "| calls | system | frames on time | loop lag p99 (ms) | gateway CPU (ms/s) | per call | calls by worker |",
        "|---|---|---|---|---|---|---|",
    ]
    steps = [(s, "one process") for s in results["single"]["steps"]]
    steps += [(s, f"{n} workers") for s in results["workers"]["steps"]]
    for s, system in sorted(steps, key=lambda x: (x[0]["calls"], x[1])):
        by_worker = s.get("calls_by_worker")
        lines.append(
            f"| {s['calls']} | {system} | {s['on_time']} | {s['lag']['p99']} | {s['sut_cpu_ms_per_s']} | "
            f"{s['cpu_ms_per_call_s']} | {fmt(by_worker and ' / '.join(str(v) for v in by_worker.values()))} |"
        )
    if results.get("notes"):
        lines += ["", *[f"- {note}" for note in results["notes"]]]
    return "\n".join(lines) + "\n"
