"""The load generator's WebRTC peers: pre-encoded marker audio out, markers timed on arrival."""

from __future__ import annotations

import asyncio

import aioice.ice
import httpx
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from callbridge.emulator.markers import MarkerTap, MarkerTrack, encoded_loop
from callbridge.emulator.peer import drop_outgoing_rtp


def loopback_only() -> None:
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


class BenchPeer:
    def __init__(self, send_hz: float, listen_hz: float, loss: float = 0.0, tone_hz: float = 440.0) -> None:
        """Sends a quiet ``tone_hz`` tone marked at ``send_hz``; times markers at ``listen_hz`` as they arrive."""
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.track = MarkerTrack(send_hz)
        if tone_hz != 440.0:  # the track's own loop is on 440 Hz; peers in one call tell apart by ear this way
            self.track.packets = encoded_loop(send_hz, tone_hz)
        transceiver = self.pc.addTransceiver(self.track, direction="sendrecv")
        self.tap = MarkerTap(transceiver.receiver, listen_hz)
        self.loss = loss
        self.connected = asyncio.Event()
        self.pc.on("connectionstatechange", self._state)

    def _state(self) -> None:
        if self.pc.connectionState == "connected":
            self.connected.set()

    async def connect(self, http: httpx.AsyncClient, url: str, body: dict, headers: dict | None = None) -> None:
        """Offer (complete, non-trickle), POST it with ``body`` around it, apply the answer."""
        await self.pc.setLocalDescription(await self.pc.createOffer())
        drop_outgoing_rtp(self.pc, lambda: self.loss)
        response = await http.post(url, json={**body, "sdp": self.pc.localDescription.sdp}, headers=headers)
        response.raise_for_status()
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=response.json()["sdp"], type="answer"))

    def report(self) -> dict:
        return {"sent": self.track.sent, "frames_sent": self.track.frames, **self.tap.report()}

    async def close(self) -> None:
        self.track.stop()
        await self.pc.close()
