"""The bench's steps: N bridged calls held through a measured window, on callbridge and on the naive bridge;
the capacity search that steps N up; and what one more call costs."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from bench.harness import FRAMES_PER_SECOND, HTTP_TIMEOUT, Bench, GatewayUnderTest, pct
from callbridge.emulator.markers import count_between, latencies
from callbridge.testing import expect_ok

Step = Callable[[int], dict[str, Any]]

# A call with three endpoints: the agent talking, a supervisor listening in, a coach whispering to the agent.
# Each sends its own tone (the WhatsApp user's is 440 Hz) and marker; all of them time the user's markers.
THREE_ENDPOINTS: list[dict[str, Any]] = [
    {"id": "default", "role": "talk", "marker_hz": 3000.0, "tone_hz": 660.0},
    {"id": "supervisor", "role": "listen", "marker_hz": 3500.0, "tone_hz": 880.0},
    {"id": "coach", "role": "whisper", "marker_hz": 4000.0, "tone_hz": 550.0},
]


def callbridge_step(
    bench: Bench,
    n: int,
    loss: float = 0.0,
    settle: float = 2.0,
    window: float = 8.0,
    extra: str | None = None,
    gateways: list[GatewayUnderTest] | None = None,
    endpoints: list[dict[str, Any]] | None = None,
    via: str = "webrtc",
) -> dict[str, Any]:
    """``n`` calls from the gateway(s) to the emulator's marker users (losing ``loss`` of their packets), each
    joined by a browser from a load generator; ``extra`` is ``"record"`` or ``"play"`` on every call.
    ``endpoints`` (like :data:`THREE_ENDPOINTS`) joins each call with one browser per endpoint instead, the
    first of them the one whose latency to and from the user is reported. ``via`` ``"stream"`` joins each call
    with a voice bot instead of a browser, ``"rtp"`` with a native RTP app sending Opus (bench/bots.py); their
    latency is reported under the browser's keys."""
    gateways = gateways or bench.gateways[:1]
    calls = marker_calls(gateways, n, loss)
    for gw, call_id in calls:
        if extra == "record":
            expect_ok(gw.scene.post("/call/record", {"CallID": call_id, "Path": f"bench/{call_id}.wav"}))
        elif extra == "play":
            expect_ok(gw.scene.post("/call/play", {"CallID": call_id, "AudioFile": "long.wav"}))
    plan = browsers_plan(gateways[0], [call_id for _, call_id in calls], hold=settle + window + 0.5)
    if len(gateways) > 1:
        plan["routes"] = {call_id: [gw.scene.gateway.url, gw.scene.token] for gw, call_id in calls}
    if endpoints:
        plan["endpoints"] = endpoints
    if via != "webrtc":
        plan["via"] = via
    proc, _ = bench.loadgen(plan)

    def lag(seconds: float) -> dict[str, float]:
        lags = [x for gw in gateways for x in gw.loop_lag(seconds)]
        return {"p50": max(x["p50"] for x in lags), "p99": max(x["p99"] for x in lags)}

    sut = [process for gw in gateways for process in gw.processes]
    result = bench.measure(sut, [bench.emulator], [proc], settle, window, lag)
    stats = [call_stats(gw, call_id) for gw, call_id in calls]
    jitter = [s["legs"]["whatsapp"]["inbound"] for s in stats]
    peers = json.loads(proc.communicate()[0].strip().splitlines()[-1])["peers"]
    emulator = bench.emulator.server.client
    users = [emulator.get(f"/emulator/calls/{call_id}/markers").json() for _, call_id in calls]
    for gw, call_id in calls:
        gw.scene.post("/call/end", {"CallID": call_id})
    paired = endpoints[0]["id"] if endpoints else "default"  # the browser the user's latency is paired with
    browsers = [p for p in peers if p["endpoint"] == paired] if via == "webrtc" else peers  # bots: one per call
    others = [p for p in peers if p["endpoint"] != paired] if via == "webrtc" else []
    result.update(bench.figures(users, browsers, result["window"], loss, others))
    if endpoints:
        result["endpoints"] = endpoint_figures(endpoints, users, peers, result["window"])
    result["routing"] = routing(stats)
    if via == "stream":
        result["stream"] = stream_counts(stats)
    if via == "rtp":
        result["rtp"] = {k: sum(p.get(k, 0) for p in peers) for k in ("unreadable", "rtcp_received")}
    result["jitter"] = {
        "hold_p95_ms": max(j["hold_p95_ms"] for j in jitter),
        "hold_max_ms": max(j["hold_max_ms"] for j in jitter),
        "lost": sum(j["lost"] for j in jitter),
        "released": sum(j["released"] for j in jitter),
    }
    return bench.finish(result, n)


def marker_calls(gateways: list[GatewayUnderTest], n: int, loss: float = 0.0) -> list[tuple[GatewayUnderTest, str]]:
    """``n`` calls, spread over ``gateways``, to new marker users of the emulator who answer at once (losing
    ``loss`` of their packets); returned once all are active."""
    calls = []
    for i in range(n):
        gw = gateways[i % len(gateways)]
        wa_id = gw.scene.user(say="markers", answer_after_ms=0, loss=loss)
        calls.append((gw, gw.make_call(wa_id)))
    for gw, call_id in calls:
        gw.scene.wait_state(call_id, "active", timeout=30)
    return calls


def browsers_plan(gw: GatewayUnderTest, call_ids: list[str], hold: float) -> dict[str, Any]:
    """A load generator's plan: a browser joins each call through ``gw`` and stays ``hold`` seconds."""
    scene = gw.scene
    return {
        "target": "callbridge",
        "side": "b",
        "hold": hold,
        "calls": call_ids,
        "url": scene.gateway.url,
        "token": scene.token,
    }


def call_stats(gw: GatewayUnderTest, call_id: str) -> dict[str, Any]:
    """The gateway's view of a call's media (``/call/stats``): legs, endpoints, mixes."""
    r = expect_ok(gw.scene.gateway.get("/call/stats", token=gw.scene.token, params={"CallID": call_id}))
    data: dict[str, Any] = r.json()["data"]
    return data


def routing(stats: list[dict[str, Any]]) -> dict[str, Any]:
    """What the calls' media did, summed over the calls: frames the WhatsApp leg and each endpoint were sent
    (forwarded untouched, encoded from a mix, silence, dropped), frames decoded, and mixes per call. With one
    talker the WhatsApp leg should see only forwarded frames, whatever else is attached."""

    def add(total: dict[str, int], counts: dict[str, int]) -> None:
        for k, v in counts.items():
            total[k] = total.get(k, 0) + v

    whatsapp: dict[str, int] = {}
    whatsapp_decoded = 0
    endpoints: dict[str, dict[str, Any]] = {}
    floor = 0  # packets a bench/floor.py gateway forwarded bare (0 on any other)
    for s in stats:
        add(whatsapp, s["legs"]["whatsapp"]["outbound"])
        whatsapp_decoded += s["legs"]["whatsapp"]["inbound"].get("decoded", 0)
        floor += (s["legs"]["whatsapp"].get("packets") or {}).get("floor", 0)
        for endpoint_id, e in s.get("endpoints", {}).items():
            entry = endpoints.setdefault(endpoint_id, {"role": e["role"], "outbound": {}, "decoded": 0})
            add(entry["outbound"], e["outbound"])
            entry["decoded"] += e["inbound"].get("decoded", 0)
            floor += (e.get("packets") or {}).get("floor", 0)
    return {
        "whatsapp": {"outbound": whatsapp, "decoded": whatsapp_decoded},
        "endpoints": endpoints,
        "floor_forwarded": floor,
        "mixes_per_call": max((len(s.get("mixes", [])) for s in stats), default=0),
        "mix_frames_encoded": sum(m["encoded"] for s in stats for m in s.get("mixes", [])),
    }


def stream_counts(stats: list[dict[str, Any]]) -> dict[str, float]:
    """The bots' streams as the gateway counted them (``/call/stats``, the endpoint's ``stream``), over the calls:
    media received and sent, frames played, drops; what was queued to play at the end, the largest of the calls."""
    total: dict[str, float] = {}
    for s in stats:
        for e in s.get("endpoints", {}).values():
            for k, v in e.get("stream", {}).items():
                if isinstance(v, int | float) and not isinstance(v, bool):
                    total[k] = max(total.get(k, 0), v) if k == "queuedSeconds" else total.get(k, 0) + v
    return {k: round(v, 3) for k, v in total.items()}


def endpoint_figures(
    endpoints: list[dict[str, Any]], users: list[dict], peers: list[dict], window: tuple[float, float]
) -> dict[str, Any]:
    """Per endpoint, over the calls: latency of the user's markers to it, and its frames on time."""
    seconds = window[1] - window[0]
    out = {}
    for endpoint in endpoints:
        mine = [p for p in peers if p["endpoint"] == endpoint["id"]]
        heard = [
            x * 1000 for u, p in zip(users, mine, strict=True) for x in latencies(u["sent"], p["received"], window)
        ]
        arrived = sum(count_between(p["arrivals"], window) for p in mine)
        late = sum(count_between(p["late"], window) for p in mine)
        expected = len(mine) * seconds * FRAMES_PER_SECOND
        out[endpoint["id"]] = {
            "role": endpoint["role"],
            "latency_ms_from_whatsapp": {
                "p50": pct(heard, 0.5),
                "p95": pct(heard, 0.95),
                "p99": pct(heard, 0.99),
                "markers": len(heard),
            },
            "frames_per_s": round(arrived / len(mine) / seconds, 1) if mine and seconds else None,
            "late": late,
            "on_time": round(min(1.0, (arrived - late) / expected), 4) if expected else None,
        }
    return out


def baseline_step(
    bench: Bench, n: int, loss: float = 0.0, settle: float = 2.0, window: float = 8.0, extra: str | None = None
) -> dict[str, Any]:
    """The same ``n`` calls through the naive bridge: one load generator per side ("a" plays WhatsApp)."""
    bench.rounds += 1
    calls = [f"b{bench.rounds}-{i}" for i in range(n)]
    base = {"target": "baseline", "url": bench.baseline.url, "calls": calls, "hold": settle + window + 0.5}
    a_proc = bench.spawn_loadgen({**base, "side": "a", "loss": loss})
    b_proc, _ = bench.loadgen({**base, "side": "b"})
    assert a_proc.stdout is not None
    if not a_proc.stdout.readline().startswith("READY"):
        raise RuntimeError("baseline load generator (side a) failed")
    with httpx.Client(timeout=HTTP_TIMEOUT, trust_env=False) as http:
        for call in calls:
            if extra == "record":
                path = str(bench.workdir / f"baseline-{call}.wav")
                http.post(f"{bench.baseline.url}/bridge/{call}/record", json={"path": path}).raise_for_status()
            elif extra == "play":
                http.post(f"{bench.baseline.url}/bridge/{call}/play", json={"path": str(bench.long_file)})

        def lag(seconds: float) -> dict[str, float]:
            loop_lag: dict[str, float] = http.get(f"{bench.baseline.url}/stats", params={"window": seconds}).json()[
                "loopLagMs"
            ]
            return loop_lag

        result = bench.measure([bench.baseline], [], [a_proc, b_proc], settle, window, lag)
        users = json.loads(a_proc.communicate()[0].strip().splitlines()[-1])["peers"]
        browsers = json.loads(b_proc.communicate()[0].strip().splitlines()[-1])["peers"]
        for call in calls:
            http.delete(f"{bench.baseline.url}/bridge/{call}")
    result.update(bench.figures(users, browsers, result["window"], loss))
    return bench.finish(result, n)


def capacity(step: Step, schedule: list[int], log: list[dict]) -> int:
    """Step the number of calls up until a step fails; the knee is the last step that passed."""
    knee = 0
    for n in schedule:
        result = step(n)
        log.append(result)
        print(
            f"    {n:3d} calls: on time {result['on_time']:.4f}, loop lag p99 {result['lag']['p99']} ms, "
            f"{result['cpu_ms_per_call_s']} ms CPU/s per call",
            flush=True,
        )
        if not result["passed"]:
            break
        knee = n
    return knee


def cpu_per_call(steps: list[dict]) -> tuple[float, float]:
    """What one more call costs (the slope of process CPU against calls, least squares over the steps that
    kept up), and what the process costs with none (the intercept). A single step gives its average."""
    points = [(s["calls"], s["sut_cpu_ms_per_s"]) for s in steps if s["passed"]] or [
        (s["calls"], s["sut_cpu_ms_per_s"]) for s in steps[:1]
    ]
    if len({n for n, _ in points}) < 2:
        n, cpu = points[0]
        return round(cpu / n, 1), 0.0
    mean_n = sum(n for n, _ in points) / len(points)
    mean_c = sum(c for _, c in points) / len(points)
    slope = sum((n - mean_n) * (c - mean_c) for n, c in points) / sum((n - mean_n) ** 2 for n, _ in points)
    return round(slope, 1), round(mean_c - slope * mean_n, 1)
