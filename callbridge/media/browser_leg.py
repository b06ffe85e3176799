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
    _check_transport(lines)


def _check_transport(lines: list[str]) -> None:
    """DTLS and ICE parameters, at session level or in the audio section: without them the answer would be
    given but the leg could never connect."""
    first_media = next(i for i, line in enumerate(lines) if line.startswith("m="))
    audio = next(i for i, line in enumerate(lines) if line.startswith("m=audio "))
    end = next((i for i, line in enumerate(lines) if i > audio and line.startswith("m=")), len(lines))
    attributes = lines[:first_media] + lines[audio:end]

    def values(name: str) -> list[str]:
        return [line.split(":", 1)[1].strip() for line in attributes if line.startswith(f"a={name}:")]

    fingerprints = values("fingerprint")
    if not fingerprints:
        raise InvalidRequest("malformed SDP: the offer's audio has no a=fingerprint (DTLS cannot be set up)")
    if not all(re.fullmatch(r"sha-(1|224|256|384|512) [0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2})+", f) for f in fingerprints):
        raise InvalidRequest("malformed SDP: the offer's a=fingerprint is not like 'sha-256 AB:CD:...'")
    setup = values("setup")
    if not setup:
        raise InvalidRequest("malformed SDP: the offer's audio has no a=setup (DTLS cannot be set up)")
    if setup[-1] not in ("actpass", "active", "passive"):
        raise InvalidRequest(f"malformed SDP: the offer's a=setup:{setup[-1][:20]} is not actpass, active or passive")
    if not values("ice-ufrag") or not values("ice-pwd"):
        raise InvalidRequest("malformed SDP: the offer's audio has no a=ice-ufrag and a=ice-pwd (ICE cannot start)")


class BrowserLeg(AudioLeg):
    async def answer(self, offer_sdp: str) -> str:
        check_browser_offer(offer_sdp)
        try:
            return await super().answer(offer_sdp)
        except (ValueError, AssertionError, KeyError, IndexError) as exc:  # what aiortc raises on bad SDP
            raise InvalidRequest(f"malformed SDP: {exc or type(exc).__name__}") from exc
