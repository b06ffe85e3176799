"""A load generator process: joins one side of N bridged calls with marker peers, holds, reports.

    python -m bench.loadgen '{"target": "callbridge", "url": ..., "token": ..., "calls": [...], "hold": 20}'

For callbridge, ``"endpoints": [{"id": "default", "role": "talk", "marker_hz": 3000, "tone_hz": 660}, ...]``
joins each call with one peer per endpoint (``endpointID`` and ``role`` in the offer); without it, one peer per
call on the default endpoint. Prints ``READY`` once every peer is connected, then one JSON line with every
peer's timings (call by call, endpoint by endpoint, each report naming its call and endpoint).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import httpx

from bench.peers import BenchPeer, loopback_only
from callbridge.emulator.peer import BUSINESS_MARKER_HZ, USER_MARKER_HZ


async def run(plan: dict) -> list[dict]:
    loopback_only()
    # The WhatsApp side marks with the user's frequency and listens for the browser's, and the other way round.
    whatsapp_side = plan.get("side") == "a"
    send, listen = (USER_MARKER_HZ, BUSINESS_MARKER_HZ) if whatsapp_side else (BUSINESS_MARKER_HZ, USER_MARKER_HZ)
    endpoints: list[dict] = plan.get("endpoints") or [{}]
    peers: list[tuple[str, dict, BenchPeer]] = [
        (
            call,
            endpoint,
            BenchPeer(
                endpoint.get("marker_hz", send),
                listen,
                loss=plan.get("loss", 0.0),
                tone_hz=endpoint.get("tone_hz", 440.0),
            ),
        )
        for call in plan["calls"]
        for endpoint in endpoints
    ]
    async with httpx.AsyncClient(timeout=60, trust_env=False) as http:
        joins = []
        for call, endpoint, peer in peers:
            if plan["target"] == "callbridge":
                base, token = plan.get("routes", {}).get(call, (plan["url"], plan["token"]))
                url, body = f"{base}/call/webrtc/offer", {"callID": call, "type": "offer"}
                if endpoint:
                    body |= {"endpointID": endpoint["id"], "role": endpoint["role"]}
                joins.append(peer.connect(http, url, body, headers={"token": token}))
            else:
                url = f"{plan['url']}/bridge/{call}/{plan['side']}"
                joins.append(peer.connect(http, url, {"type": "offer"}))
        await asyncio.gather(*joins)
        await asyncio.wait_for(asyncio.gather(*(p.connected.wait() for _, _, p in peers)), timeout=30)
        print("READY", time.monotonic(), flush=True)
        await asyncio.sleep(plan["hold"])
    reports = [
        {"call": call, "endpoint": endpoint.get("id", "default"), **peer.report()} for call, endpoint, peer in peers
    ]
    await asyncio.gather(*(peer.close() for _, _, peer in peers))
    return reports


def main() -> None:
    plan = json.loads(sys.argv[1])
    reports = asyncio.run(run(plan))
    print(json.dumps({"peers": reports}), flush=True)


if __name__ == "__main__":
    main()
