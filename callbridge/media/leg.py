"""A peer connection that carries one call's audio: Opus in through a jitter buffer, Opus out on one timeline."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender, RTCSessionDescription

from callbridge.errors import UpstreamError
from callbridge.media.ice import IceSettings, advertise_public_ip
from callbridge.media.inbound import InboundAudio
from callbridge.media.lean.leg_path import LeanLegPath
from callbridge.media.lean.selection import selected
from callbridge.media.outbound import OutboundAudio

log = logging.getLogger(__name__)

OnLost = Callable[[str], Awaitable[None]]  # called with the connection state: "failed" or "closed"


def has_candidates(sdp: str) -> bool:
    return any(line.startswith("a=candidate:") for line in sdp.splitlines())


def _note_rtcp(part: RTCRtpSender | RTCRtpReceiver, inbound: InboundAudio) -> None:
    """Count RTCP as a sign of life too: a peer that sends no audio (muted, replaceTrack(null)) still reports."""
    handle = part._handle_rtcp_packet

    async def noted(packet: Any) -> None:
        inbound.heard()
        await handle(packet)

    part._handle_rtcp_packet = noted  # type: ignore[method-assign]  # wrapping aiortc's method on this instance


class AudioLeg:
    """One RTCPeerConnection with one sendrecv audio transceiver."""

    open_count: ClassVar[int] = 0  # legs made and not yet closed, in this process: a leak shows here first

    def __init__(self, ice: IceSettings, user: str = "callbridge") -> None:
        AudioLeg.open_count += 1
        self.ice = ice
        self.on_lost: OnLost | None = None
        self.ice_warning: str | None = None
        self.pc = RTCPeerConnection(ice.configuration(user))
        self.outgoing = OutboundAudio()
        transceiver = self.pc.addTransceiver(self.outgoing, direction="sendrecv")
        self.inbound = InboundAudio(transceiver.receiver)
        self.lean: LeanLegPath | None = None  # our packet path, when selected: aiortc's RTP tasks never start
        if selected() == "lean":
            self.lean = LeanLegPath(self.inbound, self.outgoing)
            self.lean.install(transceiver.sender, transceiver.receiver)
        else:
            for part in (transceiver.sender, transceiver.receiver):
                _note_rtcp(part, self.inbound)
        self._closing = False
        self.pc.on("connectionstatechange", self._on_connection_state)

    @property
    def state(self) -> str:
        return self.pc.connectionState

    async def answer(self, offer_sdp: str) -> str:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return self._gathered_sdp()

    def _gathered_sdp(self) -> str:
        # aiortc gathers every candidate before setLocalDescription returns; none means no usable address.
        sdp = self.pc.localDescription.sdp
        if not has_candidates(sdp):
            raise UpstreamError(
                "no ICE candidates could be gathered: check CALLBRIDGE_ICE_HOSTS, and the TURN server (see /health)"
            )
        if self.ice.turn_configured and " typ relay" not in sdp:
            # aiortc says nothing when TURN refuses it; without a relay, strict NATs will not let media through.
            self.ice_warning = "TURN gave no relay candidate: the server is unreachable or refused the credentials"
            log.warning("%s (see /health)", self.ice_warning)
        if self.ice.public_ip:
            sdp = advertise_public_ip(sdp, self.ice.public_ip)
        return sdp

    async def close(self) -> None:
        if not self._closing:
            AudioLeg.open_count -= 1
        self._closing = True
        if self.lean is not None:
            self.lean.close()
        self.inbound.close()
        await self.pc.close()

    async def _on_connection_state(self) -> None:
        state = self.pc.connectionState
        log.debug("%s leg %s", type(self).__name__, state)
        if not self._closing and self.on_lost is not None and state in ("failed", "closed"):
            await self.on_lost(state)
