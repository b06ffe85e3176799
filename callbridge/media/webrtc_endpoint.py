"""A browser (or any WebRTC app) attached to a call: one peer connection answering its complete offer."""

from __future__ import annotations

from typing import Any

from callbridge.media.browser_leg import BrowserLeg
from callbridge.media.endpoint import Endpoint, Role
from callbridge.media.ice import IceSettings
from callbridge.media.inbound import InboundAudio
from callbridge.media.outbound import OutboundAudio


class WebRtcEndpoint(Endpoint):
    kind = "webrtc"

    def __init__(self, endpoint_id: str, role: Role, ice: IceSettings) -> None:
        super().__init__(endpoint_id, role)
        self.leg = BrowserLeg(ice, user="browser-leg")
        self.leg.on_lost = self._lost
        self.leg.pc.on("connectionstatechange", self._state_changed)

    async def answer(self, offer_sdp: str) -> str:
        return await self.leg.answer(offer_sdp)

    @property
    def inbound(self) -> InboundAudio:
        return self.leg.inbound

    @property
    def outgoing(self) -> OutboundAudio:
        return self.leg.outgoing

    @property
    def state(self) -> str:
        state = self.leg.state
        return state if state in ("connected", "closed") else "closed" if state == "failed" else "connecting"

    async def close(self) -> None:
        await self.leg.close()

    def stats(self) -> dict[str, Any]:
        stats = super().stats()
        if self.leg.lean is not None:
            stats["packets"] = self.leg.lean.stats()  # the lean path's SRTP and RTCP figures
        return stats

    def _state_changed(self) -> None:
        if self.leg.state == "connected" and self.on_connected is not None:
            self.on_connected(self)

    async def _lost(self, state: str) -> None:
        if self.on_gone is not None:
            await self.on_gone(self, f"the browser went away without closing (connection {state})")
