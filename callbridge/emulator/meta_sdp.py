"""The virtual user's SDP in the shape of Meta's, rewritten from what aiortc produces.

Meta's offer for a user-initiated call (a real one, StackOverflow q. 79710003, and the sample on Meta's "API and
Webhook Reference" page): ice-lite, a sha-256 fingerprint only, ``m=audio ... 111 126``, Opus on 111 with
``maxaveragebitrate=20000;maxplaybackrate=16000;minptime=20;sprop-maxcapturerate=16000;useinbandfec=1``,
``telephone-event/8000`` on 126, ``a=maxptime:20`` and ``a=ptime:20``. Its answer to a business's offer (the
reference page's business-initiated sample) keeps the business's telephone-event/8000 payload type.
"""

from __future__ import annotations

import re

OPUS_PT = 111
DTMF_PT = 126
OPUS_FMTP = "maxaveragebitrate=20000;maxplaybackrate=16000;minptime=20;sprop-maxcapturerate=16000;useinbandfec=1"
_PT_LINE = re.compile(r"^a=(rtpmap|fmtp|rtcp-fb):(\d+)[ /]")


def _lines(sdp: str) -> list[str]:
    return [line for line in sdp.replace("\r\n", "\n").split("\n") if line]


def _join(lines: list[str]) -> str:
    return "\r\n".join(lines) + "\r\n"


def rtpmap_pt(sdp: str, encoding: str) -> int | None:
    """The payload type ``sdp``'s audio m-line lists for ``encoding`` (e.g. ``telephone-event/8000``), or None."""
    lines = _lines(sdp)
    m_line = next((line for line in lines if line.startswith("m=audio ")), "")
    listed = m_line.split()[3:]
    for line in lines:
        match = re.match(rf"^a=rtpmap:(\d+) {re.escape(encoding)}(/\d+)?$", line, re.IGNORECASE)
        if match and match.group(1) in listed:
            return int(match.group(1))
    return None


def _sha256_only(lines: list[str]) -> list[str]:
    return [line for line in lines if not line.startswith("a=fingerprint:") or line[14:].lower().startswith("sha-256 ")]


def with_ice_lite(lines: list[str]) -> list[str]:
    at = next((i + 1 for i, line in enumerate(lines) if line.startswith("t=")), 1)
    return [*lines[:at], "a=ice-lite", *lines[at:]]


def meta_offer(sdp: str) -> str:
    """aiortc's offer as Meta's: Opus on 111 with Meta's fmtp, telephone-event on 126, nothing else."""
    lines = with_ice_lite(_sha256_only(_lines(sdp)))
    opus = rtpmap_pt(sdp, "opus/48000")
    out: list[str] = []
    for line in lines:
        if line.startswith("m=audio "):
            line = " ".join([*line.split()[:3], str(OPUS_PT), str(DTMF_PT)])
        elif (match := _PT_LINE.match(line)) is not None:
            if int(match.group(2)) != opus or match.group(1) != "rtpmap":
                continue  # other codecs go, and Opus's own lines are written below
            out += [
                f"a=rtpmap:{OPUS_PT} opus/48000/2",
                f"a=rtcp-fb:{OPUS_PT} transport-cc",
                f"a=fmtp:{OPUS_PT} {OPUS_FMTP}",
                f"a=rtpmap:{DTMF_PT} telephone-event/8000",
                "a=maxptime:20",
                "a=ptime:20",
            ]
            continue
        out.append(line)
    return _join(out)


def meta_answer(sdp: str, offer: str) -> str:
    """aiortc's answer as Meta's: sha-256 only, ice-lite, and the offer's telephone-event/8000 kept (aiortc
    alone would drop it, and Meta's user then presses keys on that payload type)."""
    lines = with_ice_lite(_sha256_only(_lines(sdp)))
    dtmf = rtpmap_pt(offer, "telephone-event/8000")
    if dtmf is None or rtpmap_pt(sdp, "telephone-event/8000") == dtmf:
        return _join(lines)
    out: list[str] = []
    for line in lines:
        if line.startswith("m=audio "):
            line = f"{line} {dtmf}"
        out.append(line)
        if line.startswith("a=rtpmap:") and "opus/48000" in line.lower():
            out.append(f"a=rtpmap:{dtmf} telephone-event/8000")
    return _join(out)
