"""The gateway's peer connection toward WhatsApp's media servers: one per call."""

from __future__ import annotations

from aiortc import RTCSessionDescription

from callbridge.media.leg import AudioLeg

MEDIA_FAILED = "media connection to WhatsApp failed (ICE/DTLS)"
# aiortc shows an expired ICE consent (RFC 7675, ~30 s unanswered) and WhatsApp's DTLS close the same way.
MEDIA_LOST = "media connection to WhatsApp lost (ICE consent expired or DTLS closed)"


def lost_reason(state: str) -> str:
    return MEDIA_FAILED if state == "failed" else MEDIA_LOST


class WhatsAppLeg(AudioLeg):
    """Sends audio from the first moment (silence until there is something to say): Meta drops calls that get
    no Opus for ~20 s."""

    async def create_offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self._gathered_sdp()

    async def apply_answer(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
