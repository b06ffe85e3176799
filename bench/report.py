"""The bench's report: the summary table against the targets, notes on what a missed target came from, and
the Markdown that goes to bench/results/latest.md (and, by hand, to the README)."""

from __future__ import annotations

from typing import Any

TARGETS = {
    "latency_clean_p50_ms": 25,
    "latency_clean_p99_ms": 50,
    "latency_loss2_p99_ms": 60,
    "capacity_calls": 60,
    "cpu_ms_per_call_s": 30,
    "rss_mb_per_call": 6,
}


def ratio(a: float | None, b: float | None) -> float | None:
    """callbridge's figure over the baseline's, when both exist."""
    return round(a / b, 2) if a is not None and b else None


def summary(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per measure: the target, both systems' figures, their ratio, and whether the target was met."""
    cb, bl = results["callbridge"], results["baseline"]
    rows = []

    def row(measure: str, target: Any, ours: Any, theirs: Any, better: str = "lower") -> None:
        met = None
        if target is not None and ours is not None:
            met = ours <= target if better == "lower" else ours >= target
        rows.append(
            {
                "measure": measure,
                "target": target,
                "callbridge": ours,
                "baseline": theirs,
                "ratio": ratio(ours, theirs),
                "met": met,
            }
        )

    for key, label in (
        ("loss_0pct", "clean"),
        ("loss_1pct", "1% loss"),
        ("loss_2pct", "2% loss"),
        ("loss_5pct", "5% loss"),
    ):
        if key not in cb["latency"]:
            continue
        ours = cb["latency"][key]["latency_ms"]["whatsapp_to_browser"]
        theirs = bl["latency"][key]["latency_ms"]["whatsapp_to_browser"]
        back_ours = cb["latency"][key]["latency_ms"]["browser_to_whatsapp"]
        back_theirs = bl["latency"][key]["latency_ms"]["browser_to_whatsapp"]
        if key == "loss_0pct":
            row(
                f"one-way latency WhatsApp→browser, {label}, p50 (ms)",
                TARGETS["latency_clean_p50_ms"],
                ours["p50"],
                theirs["p50"],
            )
            row(
                f"one-way latency WhatsApp→browser, {label}, p99 (ms)",
                TARGETS["latency_clean_p99_ms"],
                ours["p99"],
                theirs["p99"],
            )
        else:
            target = TARGETS["latency_loss2_p99_ms"] if key == "loss_2pct" else None
            row(f"one-way latency WhatsApp→browser, {label}, p99 (ms)", target, ours["p99"], theirs["p99"])
        row(f"one-way latency browser→WhatsApp, {label}, p99 (ms)", None, back_ours["p99"], back_theirs["p99"])
    row("concurrent bridged calls, one process", TARGETS["capacity_calls"], cb["capacity"], bl["capacity"], "higher")
    if "two_processes" in cb:
        two = cb["two_processes"]
        if two["capacity"]:
            row(
                "concurrent bridged calls, two gateway processes",
                TARGETS["capacity_calls"],
                two["capacity"],
                None,
                "higher",
            )
        else:  # the search starts at one process's knee; failing there says "no more than one process", not 0
            rows.append(
                {
                    "measure": "concurrent bridged calls, two gateway processes",
                    "target": TARGETS["capacity_calls"],
                    "callbridge": f"< {two['steps'][0]['calls']}",
                    "baseline": None,
                    "ratio": None,
                    "met": False,
                }
            )
    row(
        "CPU per bridged call (ms/s, marginal)",
        TARGETS["cpu_ms_per_call_s"],
        cb["cpu_ms_per_call_s"],
        bl["cpu_ms_per_call_s"],
    )
    row("memory per call (MB)", TARGETS["rss_mb_per_call"], cb["rss_mb_per_call"], bl["rss_mb_per_call"])
    row(
        "memory kept after the calls ended (MB)", None, cb["rss_growth_after_calls_mb"], bl["rss_growth_after_calls_mb"]
    )
    growth = lambda xs: round(xs[-1] - xs[0], 1) if len(xs) > 1 else None  # noqa: E731
    row(
        "memory growth over repeated call cycles (MB)",
        1,
        growth(cb["rss_mb_after_each_repeat"]),
        growth(bl["rss_mb_after_each_repeat"]),
    )
    row(
        "recording, extra CPU per call (ms/s)",
        None,
        cb["recording_cost_ms_per_call_s"],
        bl["recording_cost_ms_per_call_s"],
    )
    row(
        "playback, extra CPU per call (ms/s; the baseline replaces the voice, callbridge mixes it in)",
        None,
        cb["playback_cost_ms_per_call_s"],
        bl["playback_cost_ms_per_call_s"],
    )
    if (three := cb.get("three_endpoints")) is not None:  # callbridge only: the naive bridge has no endpoints
        n = three["calls"]
        row(
            f"CPU per call, plain bridged, {n} calls (ms/s, average; same run as the next row)",
            None,
            three["plain_cpu_ms_per_call_s"],
            None,
        )
        row(
            f"CPU per call, three endpoints (talk + listen + whisper), {n} calls (ms/s, average)",
            None,
            three["cpu_ms_per_call_s"],
            None,
        )
        row("three endpoints over plain bridged, CPU per call (ratio)", None, three["ratio_to_plain"], None)
    for via, label in (("stream", "voice bot"), ("rtp", "RTP app")):
        if (case := cb.get(via)) is None:
            continue
        n = case["calls"]
        name = "a voice bot stream (Twilio μ-law: transcoded)" if via == "stream" else "an RTP/Opus endpoint"
        for key, direction in (
            ("whatsapp_to_endpoint", f"WhatsApp→{label}"),
            ("endpoint_to_whatsapp", f"{label}→WhatsApp"),
        ):
            for q in ("p50", "p99"):
                row(f"one-way latency {direction}, {n} calls, {q} (ms)", None, case["latency_ms"][key][q], None)
        row(f"CPU per call with {name}, {n} calls (ms/s, average)", None, case["cpu_ms_per_call_s"], None)
        row(f"{label} over plain bridged, CPU per call (ratio)", None, case["ratio_to_plain"], None)
        if case.get("passthrough") is not None:
            held = case["passthrough"]
            rows.append(
                {
                    "measure": "RTP/Opus passes through (endpoint inbound decoded 0, WhatsApp leg encoded 0)",
                    "target": "yes",
                    "callbridge": "yes" if held["held"] else "no",
                    "baseline": None,
                    "ratio": None,
                    "met": held["held"],
                }
            )
    return rows


def notes(results: dict[str, Any]) -> list[str]:
    """What the numbers mean where a target was missed: by how much, and what held the figure back."""
    out = []
    if results["mode"] == "smoke":
        out.append("Smoke run (2 calls): it checks that the harness produces every figure; the figures mean little.")
    cores_ms = results["machine"]["cores"] * 1000
    before = results.get("load_average_at_start")
    if before and before[0] > results["machine"]["cores"]:
        out.append(
            f"The machine was busy before the run began (load average {before[0]} on {results['machine']['cores']} "
            f"cores; {results.get('load_average_at_end', ['?'])[0]} at the end): other processes competed for the "
            "CPU, so capacity, lag and frames on time understate what the gateway does on a quiet machine."
        )
    for row in results["summary"]:
        if row["met"] is False and isinstance(row["callbridge"], int | float) and row["target"]:
            off = (row["callbridge"] - row["target"]) / row["target"] * 100
            out.append(f"{row['measure']}: {row['callbridge']} against a target of {row['target']} ({off:+.0f}%).")

    def why(steps: list[dict], label: str) -> None:
        failed = next((s for s in steps if not s["passed"]), None)
        if failed is None:
            return
        cpu = failed["cpu_ms_per_s"]
        gateways = sum(v for k, v in cpu.items() if k.startswith("gateway"))
        generators = sum(v for k, v in cpu.items() if not k.startswith("gateway"))
        out.append(
            f"{label}: at {failed['calls']} calls, frames on time {failed['on_time']}, event-loop lag p99 "
            f"{failed['lag']['p99']} ms. The machine was using {failed['machine_cpu_ms_per_s']:.0f} of its "
            f"{cores_ms} ms of CPU per second: gateway {gateways:.0f}, load generators (the emulator's users and "
            f"the browsers, which this benchmark runs on the same {results['machine']['cores']} cores) "
            f"{generators:.0f}."
        )

    cb = results["callbridge"]
    why(cb["steps"], "One process")
    if (three := cb.get("three_endpoints")) is not None:
        out.extend(three_endpoint_notes(three))
    out.extend(bot_and_rtp_notes(cb))
    if "two_processes" in cb:
        why(cb["two_processes"]["steps"], "Two processes")
    profile = results.get("profile")
    if profile:
        top = ", ".join(f"{name} {share}%" for name, share in profile["top_functions_pct"][:5])
        out.append(f"Profile of the gateway's busy time at 12 calls (py-spy): {top}.")
    return out


def three_endpoint_notes(three: dict[str, Any]) -> list[str]:
    """What the three-endpoint calls did: frames on time, latency to each endpoint, and whether the WhatsApp
    user's audio stayed passthrough (one talker: the user hears the agent's frames untouched)."""
    step, plain = three["three"], three["plain"]
    routing = step["routing"]
    wa = routing["whatsapp"]["outbound"]
    heard = ", ".join(
        f"{endpoint_id} ({e['role']}) p50 {e['latency_ms_from_whatsapp']['p50']} / p99 "
        f"{e['latency_ms_from_whatsapp']['p99']} ms, {e['frames_per_s']} frames/s, on time {e['on_time']}"
        for endpoint_id, e in step.get("endpoints", {}).items()
    )
    out = [
        f"Three endpoints per call ({three['calls']} calls; agent talking, supervisor listening, coach whispering): "
        f"{three['cpu_ms_per_call_s']} ms of CPU per second per call against {three['plain_cpu_ms_per_call_s']} for "
        f"the same number of plain bridged calls just before (x{three['ratio_to_plain']}, "
        f"+{three['extra_cpu_ms_per_call_s']} ms/s); frames on time {step['on_time']} (plain {plain['on_time']}), "
        f"event-loop lag p99 {step['lag']['p99']} ms (plain {plain['lag']['p99']}). {routing['mixes_per_call']} "
        f"mixes per call. The WhatsApp user was sent {wa.get('forwarded', 0)} frames forwarded untouched and "
        f"{wa.get('encoded', 0)} encoded. User's markers heard by: {heard}."
    ]
    if wa.get("encoded", 0):
        out.append(
            "The WhatsApp leg was sent encoded frames in the three-endpoint calls: with one talker it should hear "
            "the agent's frames untouched (passthrough)."
        )
    plain_routing = plain["routing"]
    touched = plain_routing["whatsapp"]["outbound"].get("encoded", 0) + sum(
        e["outbound"].get("encoded", 0) for e in plain_routing["endpoints"].values()
    )
    if touched or plain_routing["mixes_per_call"]:
        out.append(f"Plain bridged calls encoded {touched} frames: they should be passthrough both ways.")
    return out


def bot_and_rtp_notes(cb: dict[str, Any]) -> list[str]:
    """How the voice-bot and RTP cases were timed and what the gateway did with their media."""
    out = []
    if (stream := cb.get("stream")) is not None:
        step, lat, counts = stream["step"], stream["latency_ms"], stream["step"].get("stream", {})
        out.append(
            f"Voice bot per call ({stream['calls']} calls): the bot is a WebSocket server in the load generator that "
            "the gateway connects to (POST /call/stream, Twilio's μ-law at 8 kHz). It times the WhatsApp user's "
            "2 kHz markers in the decoded 20 ms media chunks as they arrive, and sends its own 3 kHz-marked tone as "
            "one 20 ms chunk every 20 ms (a bot streaming speech in real time), timed when each marker chunk is "
            "sent; the user times those markers as its packets arrive. WhatsApp→bot p50 "
            f"{lat['whatsapp_to_endpoint']['p50']} / p99 {lat['whatsapp_to_endpoint']['p99']} ms, bot→WhatsApp p50 "
            f"{lat['endpoint_to_whatsapp']['p50']} / p99 {lat['endpoint_to_whatsapp']['p99']} ms (the gateway "
            "starts playing a talkspurt once 40 ms is queued and plays on its own 20 ms tick). CPU "
            f"{stream['cpu_ms_per_call_s']} ms/s per call against {stream['plain_cpu_ms_per_call_s']} plain "
            f"(x{stream['ratio_to_plain']}, +{stream['extra_cpu_ms_per_call_s']} ms/s): every frame is decoded, "
            "resampled and μ-law coded one way and μ-law decoded, resampled and Opus-encoded the other. Frames on "
            f"time {step['on_time']}, loop lag p99 {step['lag']['p99']} ms. The gateway counted "
            f"{counts.get('media_received', '?')} media received, {counts.get('frames_played', '?')} frames played, "
            f"{counts.get('media_sent_inbound', '?')} media sent, {counts.get('send_dropped', 0)} dropped for a slow "
            f"bot, {counts.get('droppedSeconds', 0)} s dropped from full queues; at most "
            f"{counts.get('queuedSeconds', '?')} s of the bot's audio was waiting to play when the stats were read."
        )
    if (rtp := cb.get("rtp")) is not None:
        step, lat, held = rtp["step"], rtp["latency_ms"], rtp["passthrough"]
        out.append(
            f"RTP app per call ({rtp['calls']} calls): a UDP socket in the load generator given as RemoteAddress "
            "(POST /call/rtp, Codec opus), sending the browsers' pre-encoded Opus marker loop every 20 ms and "
            "timing the user's markers in what arrives, as the browsers do. WhatsApp→app p50 "
            f"{lat['whatsapp_to_endpoint']['p50']} / p99 {lat['whatsapp_to_endpoint']['p99']} ms, app→WhatsApp p50 "
            f"{lat['endpoint_to_whatsapp']['p50']} / p99 {lat['endpoint_to_whatsapp']['p99']} ms. CPU "
            f"{rtp['cpu_ms_per_call_s']} ms/s per call against {rtp['plain_cpu_ms_per_call_s']} plain "
            f"(x{rtp['ratio_to_plain']}); frames on time {step['on_time']}, loop lag p99 {step['lag']['p99']} ms. "
            f"/call/stats: the endpoints decoded {held['endpoint_inbound_decoded']} frames and were sent "
            f"{held['endpoint_outbound_encoded']} encoded; the WhatsApp leg was sent "
            f"{held['whatsapp_outbound_forwarded']} frames forwarded and {held['whatsapp_outbound_encoded']} encoded."
        )
        if not held["held"]:
            out.append("RTP/Opus did not pass through: the counters above should be 0 decoded and 0 encoded.")
    return out


def markdown(results: dict[str, Any]) -> str:
    """The run as Markdown: the machine, the summary table, the profile's areas, the notes."""
    m = results["machine"]
    lines = [
        f"Run {results['started']} ({results['mode']}) on {m['cores']} cores ({m['cpu']}), Python {m['python']}, "
        f"aiortc {m['aiortc']}, PyAV {m['av']}.",
        "",
        "| Measure | Target | callbridge | naive aiortc bridge | ratio | target met |",
        "|---|---|---|---|---|---|",
    ]
    for r in results["summary"]:
        met = {True: "yes", False: "no", None: ""}[r["met"]]
        fmt = lambda v: "" if v is None else str(v)  # noqa: E731
        lines.append(
            f"| {r['measure']} | {fmt(r['target'])} | {fmt(r['callbridge'])} | {fmt(r['baseline'])} | "
            f"{fmt(r['ratio'])} | {met} |"
        )
    if results.get("profile"):
        areas = ", ".join(f"{k} {v}%" for k, v in list(results["profile"]["by_area_pct"].items())[:6])
        lines += ["", f"Where the gateway's busy time goes at 12 calls (py-spy): {areas}."]
    if results.get("notes"):
        lines += ["", *[f"- {note}" for note in results["notes"]]]
    return "\n".join(lines) + "\n"
