"""The peer connection to a person's browser (or any WebRTC app): answers its complete, non-trickle offer."""

from __future__ import annotations

import re

from callbridge.errors import InvalidRequest
from callbridge.media.leg import AudioLeg, has_candidates

MAX_SDP = 64 * 1024


def check_browser_offer(sdp: str) -> None:
    """Refuse, with a reason a web developer can act on, offers we could not answer with audio."""
    if len(sdp) > MAX_SDP:
        raise InvalidRequest(f"the SDP is larger than {MAX_SDP} bytes")
    lines = [line.strip() for line in sdp.replace("\r\n", "\n").split("\n") if line.strip()]
    if not lines or lines[0] != "v=0":
        raise InvalidRequest("malformed SDP: an offer starts with v=0")
    if not any(line.startswith("m=audio ") for line in lines):
        if any(line.startswith("m=") for line in lines):
            raise InvalidRequest("the offer has no audio: add an audio track (or transceiver) before createOffer()")
        raise InvalidRequest("malformed SDP: no media section")
    if not any(re.match(r"a=rtpmap:\d+ opus/48000", line, re.IGNORECASE) for line in lines):
        raise InvalidRequest("the offer has no Opus audio codec")
    if not has_candidates(sdp):
        raise InvalidRequest(
            "the offer has no ICE candidates: wait for iceGatheringState 'complete' before posting it (no trickle)"
        )


class BrowserLeg(AudioLeg):
    async def answer(self, offer_sdp: str) -> str:
        check_browser_offer(offer_sdp)
        try:
            return await super().answer(offer_sdp)
        except (ValueError, AssertionError, KeyError, IndexError) as exc:  # what aiortc raises on bad SDP
            raise InvalidRequest(f"malformed SDP: {exc or type(exc).__name__}") from exc
