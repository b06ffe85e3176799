"""How Meta validates the SDP a business sends.

Refused up front (HTTP 400, code 100, the reason in ``error_data.details``; Meta's troubleshooting page: "If it's
an SDP validation related error then the exact issue will be included in the details"):
- a fingerprint other than sha-256, subcode 2494010 "Fingerprint algo is not SHA256" (a real answer from Meta,
  StackOverflow q. 79767013);
- no Opus: "the SDP must support ICE, DTLS-SRTP and OPUS" (Meta's calling overview), so no DTLS fingerprint and
  no ICE credentials are refused as well.
Accepted, because Meta accepts it: its own sample answers on the "API and Webhook Reference" page (no
``a=candidate`` lines, ``c=IN IP4 0.0.0.0``), an answer with ``a=ice-lite`` (a real log, Mamlesh06/whatsapp-call:
pre_accept and accept succeeded; the call then failed on media) and an upper-case ``SHA-256``.
``a=setup`` other than active in an answer (actpass or active in an offer) is the emulator's own rule: Meta's
samples all have it, and with passive DTLS fails (shared/reference §1.7), but Meta documents no 400 for it.
"""

from __future__ import annotations

import re


class SdpRejected(Exception):
    def __init__(self, details: str, subcode: int | None = None) -> None:
        super().__init__(details)
        self.details = details
        self.subcode = subcode


FINGERPRINT_SUBCODE = 2494010


def _lines(sdp: str) -> list[str]:
    return [line.strip() for line in sdp.replace("\r\n", "\n").split("\n") if line.strip()]


def check_business_sdp(sdp: str, sdp_type: str) -> None:
    """Raise :class:`SdpRejected` where Meta would answer 400; ``sdp_type`` is offer or answer."""
    lines = _lines(sdp)
    if not lines or lines[0] != "v=0":
        raise SdpRejected("SDP must start with v=0 (RFC 8866)")
    fingerprints = [line for line in lines if line.startswith("a=fingerprint:")]
    if not fingerprints:
        raise SdpRejected("SDP has no a=fingerprint line: DTLS-SRTP is required")
    if any(not line[len("a=fingerprint:") :].lower().startswith("sha-256 ") for line in fingerprints):
        raise SdpRejected("Fingerprint algo is not SHA256", FINGERPRINT_SUBCODE)
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
    setup = next((line.split(":", 1)[1] for line in lines if line.startswith("a=setup:")), None)
    if sdp_type == "answer" and setup != "active":
        raise SdpRejected(f"a=setup:{setup} is not supported in an answer: use a=setup:active")
    if sdp_type == "offer" and setup not in ("actpass", "active"):
        raise SdpRejected(f"a=setup:{setup} is not supported in an offer: use a=setup:actpass")


def same_sdp(first: str, second: str) -> bool:
    """The same SDP, whatever its line endings and trailing white space."""
    return _lines(first) == _lines(second)
