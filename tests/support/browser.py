"""A browser stand-in for media tests: an aiortc peer that says a tone and listens, like the softphone does."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TypeVar

import aioice.ice
import httpx
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame

from callbridge.emulator.audio import Ear, Mouth, tone

T = TypeVar("T")


class PyBrowser:
    def __init__(self, say_hz: float | None = 660.0) -> None:
        aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.mouth = Mouth()
        if say_hz:
            self.mouth.say_samples(tone(say_hz, 1.0))
        self.pc.addTrack(self.mouth)
        self.ear = Ear()
        self._listening: asyncio.Task[None] | None = None
        self.pc.on("track", self._on_track)

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def join(
        self, gateway_url: str, token: str, call_id: str, endpoint_id: str | None = None, role: str | None = None
    ) -> httpx.Response:
        """POST the complete offer to /call/webrtc/offer (as ``endpoint_id`` with ``role``, if given) and apply
        the answer."""
        sdp = await self.offer()
        body = {"callID": call_id, "type": "offer", "sdp": sdp}
        if endpoint_id is not None:
            body["endpointID"] = endpoint_id
        if role is not None:
            body["role"] = role
        async with httpx.AsyncClient(timeout=30, trust_env=False) as http:
            r = await http.post(f"{gateway_url}/call/webrtc/offer", headers={"token": token}, json=body)
        if r.status_code == 200:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=r.json()["sdp"], type="answer"))
        return r

    @property
    def frames(self) -> int:
        return len(self.ear.chunks)

    def _on_track(self, track: MediaStreamTrack) -> None:
        self._listening = asyncio.create_task(self._listen(track))

    async def _listen(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
            while True:
                frame = await track.recv()
                if isinstance(frame, AudioFrame):  # always, on an audio track
                    self.ear.hear(frame)

    def go_quiet(self) -> None:
        """Stop sending anything (RTP and RTCP) while ICE keeps answering: a peer frozen or cut off mid-call."""
        transport = self.pc.getTransceivers()[0].sender.transport

        async def nothing(data: bytes) -> None:
            return None

        transport._send_rtp = nothing  # type: ignore[method-assign]  # silencing aiortc's method on this instance

    async def close(self) -> None:
        if self._listening is not None:
            self._listening.cancel()
        await self.pc.close()


async def wait_for(check: Callable[[], T], within: float = 10.0, what: str = "condition") -> T:
    """Poll ``check`` (in a thread: it may do blocking HTTP) without stalling the loop the browser runs on."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = await asyncio.to_thread(check)
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.1)
