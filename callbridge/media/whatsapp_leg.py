"""The gateway's peer connection toward WhatsApp's media servers: one per call."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError

from callbridge.errors import UpstreamError
from callbridge.media.ice import IceSettings

log = logging.getLogger(__name__)

OnFailure = Callable[[str], Awaitable[None]]

MEDIA_FAILED = "media connection to WhatsApp failed (ICE/DTLS)"
# aiortc shows an expired ICE consent (RFC 7675, ~30 s unanswered) and WhatsApp's DTLS close the same way.
MEDIA_LOST = "media connection to WhatsApp lost (ICE consent expired or DTLS closed)"


def has_candidates(sdp: str) -> bool:
    return any(line.startswith("a=candidate:") for line in sdp.splitlines())


class WhatsAppLeg:
    """Sends audio from the first moment (silence until something else is given: Meta drops calls that
    get no Opus for ~20 s) and reports a failed connection through ``on_failure``."""

    def __init__(self, ice: IceSettings, on_failure: OnFailure | None = None) -> None:
        self.on_failure = on_failure
        self.pc = RTCPeerConnection(ice.configuration())
        self.outgoing: MediaStreamTrack = AudioStreamTrack()
        self.pc.addTrack(self.outgoing)
        self.remote: MediaStreamTrack | None = None
        self._drain: asyncio.Task[None] | None = None
        self._closing = False
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_connection_state)

    @property
    def state(self) -> str:
        return self.pc.connectionState

    async def create_offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self._gathered_sdp()

    async def apply_answer(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    async def answer(self, offer_sdp: str) -> str:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return self._gathered_sdp()

    def _gathered_sdp(self) -> str:
        # aiortc gathers every candidate before setLocalDescription returns; none means no usable address.
        sdp = self.pc.localDescription.sdp
        if not has_candidates(sdp):
            raise UpstreamError("no ICE candidates could be gathered; check CALLBRIDGE_ICE_HOSTS and the TURN settings")
        return sdp

    async def close(self) -> None:
        self._closing = True
        if self._drain is not None:
            self._drain.cancel()
        await self.pc.close()

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind != "audio":
            return
        self.remote = track
        # aiortc queues received frames without bound until someone reads them.
        self._drain = asyncio.create_task(self._discard(track), name="whatsapp-leg-drain")

    async def _discard(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
            while True:
                await track.recv()

    async def _on_connection_state(self) -> None:
        state = self.pc.connectionState
        log.debug("whatsapp leg %s", state)
        if self._closing or self.on_failure is None:
            return
        if state == "failed":
            await self.on_failure(MEDIA_FAILED)
        elif state == "closed":
            await self.on_failure(MEDIA_LOST)
