"""The load generator's WebRTC peers: aiortc connects them, their audio runs on the lean packet path
(bench/marker_leg.py): pre-encoded marker audio out, markers timed on arrival."""

from __future__ import annotations

import asyncio

import aioice.ice
import httpx
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from bench.marker_leg import MarkerLeg


def loopback_only() -> None:
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


class BenchPeer:
    def __init__(self, send_hz: float, listen_hz: float, loss: float = 0.0, tone_hz: float = 440.0) -> None:
        """Sends a quiet ``tone_hz`` tone marked at ``send_hz``; times markers at ``listen_hz`` as they arrive;
        loses ``loss`` of the RTP it sends."""
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        transceiver = self.pc.addTransceiver("audio", direction="sendrecv")
        self.leg = MarkerLeg(transceiver, send_hz, listen_hz, tone_hz, loss=lambda: loss)
        self.connected = asyncio.Event()
        self.pc.on("connectionstatechange", self._state)

    def _state(self) -> None:
        if self.pc.connectionState == "connected":
            self.connected.set()

    async def connect(self, http: httpx.AsyncClient, url: str, body: dict, headers: dict | None = None) -> None:
        """Offer (complete, non-trickle), POST it with ``body`` around it, apply the answer."""
        await self.pc.setLocalDescription(await self.pc.createOffer())
        response = await http.post(url, json={**body, "sdp": self.pc.localDescription.sdp}, headers=headers)
        response.raise_for_status()
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=response.json()["sdp"], type="answer"))

    def report(self) -> dict:
        return self.leg.report()

    async def close(self) -> None:
        self.leg.close()
        await self.pc.close()
