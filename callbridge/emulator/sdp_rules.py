"""How Meta validates the SDP a business sends (shared/reference/whatsapp-cloud-calling.md §1.7, §3.3)."""

from __future__ import annotations

import re


class SdpRejected(Exception):
    def __init__(self, details: str, subcode: int | None = None) -> None:
        super().__init__(details)
        self.details = details
        self.subcode = subcode


FINGERPRINT_SUBCODE = 2494010


def check_business_sdp(sdp: str, sdp_type: str) -> None:
    """Raise :class:`SdpRejected` where Meta would answer 400; ``sdp_type`` is offer or answer."""
    lines = [line.strip() for line in sdp.replace("\r\n", "\n").split("\n") if line.strip()]
    if not lines or lines[0] != "v=0":
        raise SdpRejected("SDP must start with v=0 (RFC 8866)")
    fingerprints = [line for line in lines if line.startswith("a=fingerprint:")]
    if not fingerprints:
        raise SdpRejected("SDP has no a=fingerprint line: DTLS-SRTP is required")
    if any(not line[len("a=fingerprint:") :].lower().startswith("sha-256 ") for line in fingerprints):
        raise SdpRejected("Fingerprint algo is not SHA256", FINGERPRINT_SUBCODE)
    if "a=ice-lite" in lines:
        raise SdpRejected("ICE lite is not supported in the business SDP")
    audio = [line for line in lines if line.startswith("m=audio ")]
    if not audio:
        raise SdpRejected("SDP has no audio m-line")
    payload_types = audio[0].split()[3:]
    opus = [m.group(1) for line in lines if (m := re.match(r"a=rtpmap:(\d+) opus/48000(/2)?$", line, re.I))]
    if not any(pt in payload_types for pt in opus):
        raise SdpRejected("Audio codec OPUS/48000 is required")
    if not any(line.startswith("a=ice-ufrag:") for line in lines) or not any(
        line.startswith("a=ice-pwd:") for line in lines
    ):
        raise SdpRejected("SDP has no ICE credentials (a=ice-ufrag, a=ice-pwd)")
    if not any(line.startswith("a=candidate:") for line in lines):
        raise SdpRejected("SDP has no ICE candidates: gather all candidates before sending (no trickle ICE)")
    setup = next((line.split(":", 1)[1] for line in lines if line.startswith("a=setup:")), None)
    if sdp_type == "answer" and setup != "active":
        raise SdpRejected(f"a=setup:{setup} is not supported in an answer: use a=setup:active")
    if sdp_type == "offer" and setup not in ("actpass", "active"):
        raise SdpRejected(f"a=setup:{setup} is not supported in an offer: use a=setup:actpass")
