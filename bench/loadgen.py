"""A load generator process: joins one side of N bridged calls with marker peers, holds, reports.

    python -m bench.loadgen '{"target": "callbridge", "url": ..., "token": ..., "calls": [...], "hold": 20}'

For callbridge, ``"endpoints": [{"id": "default", "role": "talk", "marker_hz": 3000, "tone_hz": 660}, ...]``
joins each call with one peer per endpoint (``endpointID`` and ``role`` in the offer); without it, one peer per
call on the default endpoint. Prints ``READY`` once every peer is connected, then one JSON line with every
peer's timings (call by call, endpoint by endpoint, each report naming its call and endpoint).

``"via": "stream"`` joins each call with a voice bot instead (``POST /call/stream`` to a WebSocket server here,
Twilio's μ-law); ``"via": "rtp"`` with a native RTP app (``POST /call/rtp``, Opus, a UDP socket here). Both are
callbridge only, one per call, and time markers as the browsers do (bench/bots.py).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import httpx

from bench.bots import BotPeer, BotServer, RtpPeer, open_rtp_peer
from bench.peers import BenchPeer, loopback_only
from callbridge.emulator.peer import BUSINESS_MARKER_HZ, USER_MARKER_HZ


async def run(plan: dict) -> list[dict]:
    if plan.get("via") == "stream":
        return await run_bots(plan)
    if plan.get("via") == "rtp":
        return await run_rtp(plan)
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


async def run_bots(plan: dict) -> list[dict]:
    """One bot per call: the gateway connects to this process's WebSocket server (``POST /call/stream``)."""
    bots = [BotPeer(call, BUSINESS_MARKER_HZ, USER_MARKER_HZ) for call in plan["calls"]]
    server = BotServer(bots)
    await server.start()
    try:
        async with httpx.AsyncClient(timeout=60, trust_env=False) as http:
            await asyncio.gather(
                *(
                    post(http, plan, bot.call_id, "/call/stream", {"CallID": bot.call_id, "URL": server.url})
                    for bot in bots
                )
            )
        await asyncio.wait_for(asyncio.gather(*(bot.started.wait() for bot in bots)), timeout=30)
        print("READY", time.monotonic(), flush=True)
        await asyncio.sleep(plan["hold"])
        return [{"call": bot.call_id, "endpoint": bot.stream_sid, **bot.report()} for bot in bots]
    finally:
        await server.close()


async def run_rtp(plan: dict) -> list[dict]:
    """One RTP app per call: a UDP socket here, given to the gateway as ``RemoteAddress`` (``POST /call/rtp``)."""
    apps: list[RtpPeer] = [await open_rtp_peer(call, BUSINESS_MARKER_HZ, USER_MARKER_HZ) for call in plan["calls"]]
    try:
        async with httpx.AsyncClient(timeout=60, trust_env=False) as http:
            answers = await asyncio.gather(
                *(
                    post(
                        http,
                        plan,
                        app.call_id,
                        "/call/rtp",
                        {"CallID": app.call_id, "Codec": "opus", "RemoteAddress": app.address},
                    )
                    for app in apps
                )
            )
        for app, answer in zip(apps, answers, strict=True):
            app.talk(answer["LocalAddress"], answer["PayloadType"])
        await asyncio.wait_for(asyncio.gather(*(app.first.wait() for app in apps)), timeout=30)
        print("READY", time.monotonic(), flush=True)
        await asyncio.sleep(plan["hold"])
        return [{"call": app.call_id, "endpoint": "rtp", **app.report()} for app in apps]
    finally:
        await asyncio.gather(*(app.close() for app in apps))


async def post(http: httpx.AsyncClient, plan: dict, call: str, path: str, body: dict) -> dict:
    base, token = plan.get("routes", {}).get(call, (plan["url"], plan["token"]))
    response = await http.post(f"{base}{path}", json=body, headers={"token": token})
    response.raise_for_status()
    data: dict = response.json()["data"]
    return data


def main() -> None:
    plan = json.loads(sys.argv[1])
    reports = asyncio.run(run(plan))
    print(json.dumps({"peers": reports}), flush=True)


if __name__ == "__main__":
    main()
