"""What forwarding costs: call-scoped requests for live calls, sent to the worker that carries the call and to the
one that does not (which passes them to the owner and streams the answer back), on each worker's own node port so
that both paths start the same way. Latency p50/p99 of each, their difference, and the time to the first byte of
the call's event stream (``/call/events``) both ways."""

from __future__ import annotations

import time
from typing import Any

import httpx

from bench.harness import HTTP_TIMEOUT, GatewayUnderTest, pct

REQUESTS = ("/call/status", "/call/stats")


def place_on_every_worker(box: GatewayUnderTest, at_least: int, attempts: int = 40) -> dict[str, str]:
    """Live calls (answered at once, the user's tone flowing), until every worker carries one and there are
    ``at_least``; CallID → the owner's node URL."""
    scene = box.scene
    urls = {w.node: w.node_url for w in box.workers}
    calls: dict[str, str] = {}
    for _ in range(attempts):
        call_id = box.make_call(scene.user(say="tone:440", answer_after_ms=0))
        calls[call_id] = urls[dict(box.placed)[call_id]]
        if len(calls) >= at_least and set(calls.values()) == set(urls.values()):
            break
    for call_id in calls:
        scene.wait_state(call_id, "active", timeout=30)
    return calls


def summary(seconds: list[float]) -> dict[str, Any]:
    ms = [s * 1000 for s in seconds]
    return {
        "p50": pct(ms, 0.5),
        "p99": pct(ms, 0.99),
        "mean": round(sum(ms) / len(ms), 2) if ms else None,
        "n": len(ms),
    }


def overhead(owner: dict[str, Any], forwarded: dict[str, Any]) -> dict[str, float | None]:
    return {
        q: round(forwarded[q] - owner[q], 2) if owner[q] is not None and forwarded[q] is not None else None
        for q in ("p50", "p99", "mean")
    }


def measure_forwarding(box: GatewayUnderTest, requests: int, streams: int, calls: int = 4) -> dict[str, Any]:
    """``requests`` of each call-scoped request through the owner and as many through the non-owner, alternating
    (which goes first alternates too), spread over ``calls`` live calls; then ``streams`` event streams each way."""
    owners = place_on_every_worker(box, calls)
    token = box.scene.token
    worker_urls = [w.node_url for w in box.workers]
    clients = {url: httpx.Client(base_url=url, timeout=HTTP_TIMEOUT, trust_env=False) for url in worker_urls}
    out: dict[str, Any] = {
        "calls": len(owners),
        "calls_by_worker": {url: list(owners.values()).count(url) for url in worker_urls},
        "requests_each_way": requests,
        "streams_each_way": streams,
    }
    try:
        call_ids = list(owners)
        for path in REQUESTS:
            times: dict[str, list[float]] = {"owner": [], "forwarded": []}
            for i in range(requests):
                call_id = call_ids[i % len(call_ids)]
                owner = owners[call_id]
                other = next(u for u in worker_urls if u != owner)
                order = [("owner", owner), ("forwarded", other)]
                for via, url in order if i % 2 == 0 else reversed(order):
                    t0 = time.perf_counter()
                    r = clients[url].get(path, params={"CallID": call_id}, headers={"token": token})
                    times[via].append(time.perf_counter() - t0)
                    if r.status_code != 200:
                        raise RuntimeError(f"{path} via {via} ({url}): {r.status_code} {r.text[:300]}")
            owner_s, forwarded_s = summary(times["owner"]), summary(times["forwarded"])
            out[path] = {
                "owner_ms": owner_s,
                "forwarded_ms": forwarded_s,
                "overhead_ms": overhead(owner_s, forwarded_s),
            }
        first: dict[str, list[float]] = {"owner": [], "forwarded": []}
        for i in range(streams):
            call_id = call_ids[i % len(call_ids)]
            owner = owners[call_id]
            other = next(u for u in worker_urls if u != owner)
            order = [("owner", owner), ("forwarded", other)]
            for via, url in order if i % 2 == 0 else reversed(order):
                first[via].append(first_byte(clients[url], call_id, token))
        owner_s, forwarded_s = summary(first["owner"]), summary(first["forwarded"])
        out["/call/events"] = {
            "first_byte_owner_ms": owner_s,
            "first_byte_forwarded_ms": forwarded_s,
            "overhead_ms": overhead(owner_s, forwarded_s),
        }
    finally:
        for client in clients.values():
            client.close()
        for call_id in owners:
            box.scene.post("/call/end", {"CallID": call_id})
    return out


def first_byte(client: httpx.Client, call_id: str, token: str) -> float:
    """Seconds from sending ``GET /call/events`` to the first byte of the stream (the call's snapshot)."""
    t0 = time.perf_counter()
    with client.stream("GET", "/call/events", params={"CallID": call_id, "token": token}) as stream:
        if stream.status_code != 200:
            raise RuntimeError(f"/call/events: {stream.status_code}")
        for chunk in stream.iter_raw():
            if chunk:
                return time.perf_counter() - t0
    raise RuntimeError("/call/events ended before its first byte")
