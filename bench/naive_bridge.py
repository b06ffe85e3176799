"""The baseline: a bridge as aiortc's examples build one, on aiortc's defaults.

Each call has two peer connections, "a" (the WhatsApp side) and "b" (the browser). What one receives is
decoded by aiortc (its jitter buffer holds 4 frames), fanned out with MediaRelay, and re-encoded by the other's
sender. Recording uses MediaRecorder; playback swaps the track for a MediaPlayer. This is what a Python developer
would otherwise write, and what callbridge is measured against.

    python bench/naive_bridge.py --port 18900
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator

import aioice.ice
import uvicorn
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer, MediaRecorder, MediaRelay
from av.frame import Frame
from av.packet import Packet
from fastapi import FastAPI, Request


@contextlib.asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    task = asyncio.create_task(probe_lag())
    yield
    task.cancel()


app = FastAPI(lifespan=lifespan)
relay = MediaRelay()
bridges: dict[str, dict] = {}
lag: deque[float] = deque(maxlen=1200)


class OtherSide(MediaStreamTrack):
    """Sends what the other side says (or a file, when one plays), once the other side has joined."""

    kind = "audio"

    def __init__(self, bridge: dict, other: str) -> None:
        super().__init__()
        self.bridge, self.other = bridge, other
        self.source: MediaStreamTrack | None = None

    async def recv(self) -> Frame | Packet:
        if self.source is None:
            await self.bridge["joined"][self.other].wait()
            self.source = relay.subscribe(self.bridge["in"][self.other])
        return await self.source.recv()


@app.post("/bridge/{call}/record")
async def record(call: str, request: Request) -> dict:
    bridge = bridges[call]
    recorder = MediaRecorder((await request.json())["path"])
    recorder.addTrack(relay.subscribe(bridge["in"]["a"]))
    await recorder.start()
    bridge["recorder"] = recorder
    return {"ok": True}


@app.post("/bridge/{call}/play")
async def play(call: str, request: Request) -> dict:
    player = MediaPlayer((await request.json())["path"], loop=True)
    bridges[call]["out"]["a"].source = player.audio
    bridges[call]["player"] = player
    return {"ok": True}


# After /record and /play, which this pattern would also match.
@app.post("/bridge/{call}/{side}")
async def offer(call: str, side: str, request: Request) -> dict:
    body = await request.json()
    bridge = bridges.setdefault(
        call, {"pcs": {}, "out": {}, "in": {}, "joined": {"a": asyncio.Event(), "b": asyncio.Event()}}
    )
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    out = OtherSide(bridge, "b" if side == "a" else "a")
    bridge["pcs"][side], bridge["out"][side] = pc, out

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        bridge["in"][side] = track
        bridge["joined"][side].set()

    pc.addTrack(out)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=body["sdp"], type="offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    return {"type": "answer", "sdp": pc.localDescription.sdp}


@app.delete("/bridge/{call}")
async def close(call: str) -> dict:
    bridge = bridges.pop(call, None)
    if bridge:
        if "recorder" in bridge:
            await bridge["recorder"].stop()
        for pc in bridge["pcs"].values():
            await pc.close()
    return {"ok": True}


@app.get("/stats")
async def stats(window: float = 10.0) -> dict:
    values = sorted(list(lag)[-max(1, int(window / 0.05)) :]) or [0.0]
    pick = lambda q: round(values[min(len(values) - 1, int(q * len(values)))], 2)  # noqa: E731
    return {"bridges": len(bridges), "loopLagMs": {"p50": pick(0.5), "p99": pick(0.99), "max": round(values[-1], 2)}}


async def probe_lag() -> None:
    """The same event-loop lag probe as callbridge's: how late a 50 ms timer fires."""
    while True:
        before = time.perf_counter()
        await asyncio.sleep(0.05)
        lag.append(max(0.0, time.perf_counter() - before - 0.05) * 1000)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
