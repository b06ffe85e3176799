"""A load generator process: joins one side of N bridged calls with marker peers, holds, reports.

    python -m bench.loadgen '{"target": "callbridge", "url": ..., "token": ..., "calls": [...], "hold": 20}'

Prints ``READY`` once every peer is connected, then one JSON line with every peer's timings.
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
    peers = [BenchPeer(send, listen, loss=plan.get("loss", 0.0)) for _ in plan["calls"]]
    async with httpx.AsyncClient(timeout=60, trust_env=False) as http:
        joins = []
        for peer, call in zip(peers, plan["calls"], strict=True):
            if plan["target"] == "callbridge":
                base, token = plan.get("routes", {}).get(call, (plan["url"], plan["token"]))
                url, body = f"{base}/call/webrtc/offer", {"callID": call, "type": "offer"}
                joins.append(peer.connect(http, url, body, headers={"token": token}))
            else:
                url = f"{plan['url']}/bridge/{call}/{plan['side']}"
                joins.append(peer.connect(http, url, {"type": "offer"}))
        await asyncio.gather(*joins)
        await asyncio.wait_for(asyncio.gather(*(p.connected.wait() for p in peers)), timeout=30)
        print("READY", time.monotonic(), flush=True)
        await asyncio.sleep(plan["hold"])
    reports = [peer.report() for peer in peers]
    await asyncio.gather(*(peer.close() for peer in peers))
    return reports


def main() -> None:
    plan = json.loads(sys.argv[1])
    reports = asyncio.run(run(plan))
    print(json.dumps({"peers": reports}), flush=True)


if __name__ == "__main__":
    main()
