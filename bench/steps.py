"""The bench's steps: N bridged calls held through a measured window, on callbridge and on the naive bridge;
the capacity search that steps N up; and what one more call costs."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from bench.harness import HTTP_TIMEOUT, Bench, GatewayUnderTest
from callbridge.testing import expect_ok

Step = Callable[[int], dict[str, Any]]


def callbridge_step(
    bench: Bench,
    n: int,
    loss: float = 0.0,
    settle: float = 2.0,
    window: float = 8.0,
    extra: str | None = None,
    gateways: list[GatewayUnderTest] | None = None,
) -> dict[str, Any]:
    """``n`` calls from the gateway(s) to the emulator's marker users (losing ``loss`` of their packets), each
    joined by a browser from a load generator; ``extra`` is ``"record"`` or ``"play"`` on every call."""
    gateways = gateways or bench.gateways[:1]
    calls = []
    for i in range(n):
        gw = gateways[i % len(gateways)]
        wa_id = gw.scene.user(say="markers", answer_after_ms=0, loss=loss)
        calls.append((gw, gw.scene.make_call(wa_id)))
    for gw, call_id in calls:
        gw.scene.wait_state(call_id, "active", timeout=30)
    for gw, call_id in calls:
        if extra == "record":
            expect_ok(gw.scene.post("/call/record", {"CallID": call_id, "Path": f"bench/{call_id}.wav"}))
        elif extra == "play":
            expect_ok(gw.scene.post("/call/play", {"CallID": call_id, "AudioFile": "long.wav"}))
    first = gateways[0].scene
    plan: dict[str, Any] = {
        "target": "callbridge",
        "side": "b",
        "hold": settle + window + 0.5,
        "calls": [call_id for _, call_id in calls],
        "url": first.gateway.url,
        "token": first.token,
    }
    if len(gateways) > 1:
        plan["routes"] = {call_id: [gw.scene.gateway.url, gw.scene.token] for gw, call_id in calls}
    proc, _ = bench.loadgen(plan)

    def lag(seconds: float) -> dict[str, float]:
        health = [gw.scene.gateway.get("/health", params={"window": seconds}).json()["data"] for gw in gateways]
        lags = [h["loopLagMs"] for h in health]
        return {"p50": max(x["p50"] for x in lags), "p99": max(x["p99"] for x in lags)}

    sut = [gw.measured for gw in gateways]
    result = bench.measure(sut, [bench.emulator], [proc], settle, window, lag)
    jitter = [inbound_jitter(gw, call_id) for gw, call_id in calls]
    browsers = json.loads(proc.communicate()[0].strip().splitlines()[-1])["peers"]
    emulator = bench.emulator.server.client
    users = [emulator.get(f"/emulator/calls/{call_id}/markers").json() for _, call_id in calls]
    for gw, call_id in calls:
        gw.scene.post("/call/end", {"CallID": call_id})
    result.update(bench.figures(users, browsers, result["window"], loss))
    result["jitter"] = {
        "hold_p95_ms": max(j["hold_p95_ms"] for j in jitter),
        "hold_max_ms": max(j["hold_max_ms"] for j in jitter),
        "lost": sum(j["lost"] for j in jitter),
        "released": sum(j["released"] for j in jitter),
    }
    return bench.finish(result, n)


def inbound_jitter(gw: GatewayUnderTest, call_id: str) -> dict[str, Any]:
    """The gateway's jitter buffer on the WhatsApp leg of a call (``/call/stats``)."""
    r = expect_ok(gw.scene.gateway.get("/call/stats", token=gw.scene.token, params={"CallID": call_id}))
    inbound: dict[str, Any] = r.json()["data"]["legs"]["whatsapp"]["inbound"]
    return inbound


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
