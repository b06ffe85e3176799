"""SDP as Meta writes and checks it: the virtual user's offer and answer in Meta's shape, and what Meta accepts
and refuses from a business. Sources: Meta's "API and Webhook Reference" page (section "SDP overview and sample SDP
structures", Nov 2025), a real Meta offer (StackOverflow q. 79710003), a real refusal (q. 79767013) and a real
log where an answer with a=ice-lite was accepted (github.com/Mamlesh06/whatsapp-call, 2025-10)."""

from __future__ import annotations

import pytest

from callbridge.emulator.meta_sdp import OPUS_FMTP, meta_answer, meta_offer, rtpmap_pt
from callbridge.emulator.sdp_rules import SdpRejected, check_business_sdp, same_sdp

# Meta's sample answer to a user-initiated call (reference page): no candidates, port 9, c=0.0.0.0.
META_SAMPLE_ANSWER = """v=0
o=- 2822644248144643933 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE audio
a=msid-semantic: WMS eb909cf0-87f0-4358-a4c9-7861680d9431
m=audio 9 UDP/TLS/RTP/SAVPF 111 126
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=ice-ufrag:X1ho
a=ice-pwd:7fJSbV2N5qWiA5QiDKwK3vuh
a=fingerprint:sha-256 2E:35:9F:21:9E:63:72:E5:42:74:76:2D:B3:70:F7:CB:24:14:9B:14:52:71:05:48:DA:4D:67:31:09:58:2A:ED
a=setup:active
a=mid:audio
a=sendrecv
a=rtcp-mux
a=rtpmap:111 opus/48000/2
a=rtcp-fb:111 transport-cc
a=fmtp:111 minptime=10;useinbandfec=1
a=rtpmap:126 telephone-event/8000
a=ssrc:330833028 cname:EDc1JutBl8rwHQc2
"""

# Meta's sample offer for a business-initiated call (reference page), abridged to what is checked.
META_SAMPLE_BUSINESS_OFFER = """v=0
o=- 3626166318745852955 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0
m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 110 126
c=IN IP4 0.0.0.0
a=ice-ufrag:4g1c
a=ice-pwd:qY/Bb+jQzg5ICn6X4fhJQetk
a=ice-options:trickle
a=fingerprint:sha-256 35:47:24:24:9F:93:C4:3E:DB:37:7F:BB:ED:F8:20:B5:AD:AC:DC:35:C2:7D:67:EE:6C:35:54:DF:A6:00:5C:4A
a=setup:actpass
a=mid:0
a=sendrecv
a=rtcp-mux
a=rtpmap:111 opus/48000/2
a=fmtp:111 minptime=10;useinbandfec=1
a=rtpmap:63 red/48000/2
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:110 telephone-event/48000
a=rtpmap:126 telephone-event/8000
"""

# What aiortc 1.16 offers: Opus on 96, other codecs, three fingerprints.
AIORTC_OFFER = """v=0
o=- 4004657398 4004657398 IN IP4 0.0.0.0
s=-
t=0 0
a=group:BUNDLE 0
m=audio 35421 UDP/TLS/RTP/SAVPF 96 9 0 8
c=IN IP4 127.0.0.1
a=sendrecv
a=mid:0
a=rtcp-mux
a=ssrc:2692043446 cname:9cd5446b
a=rtpmap:96 opus/48000/2
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=candidate:1 1 udp 2130706431 127.0.0.1 35421 typ host
a=end-of-candidates
a=ice-ufrag:SQxx
a=ice-pwd:X9FRb7s5kG6GuyK8mysSHq
a=fingerprint:sha-256 32:94:C3
a=fingerprint:sha-384 07:90:03
a=fingerprint:sha-512 42:45:90
a=setup:actpass
"""


def lines(sdp: str) -> list[str]:
    return sdp.replace("\r\n", "\n").strip().split("\n")


def test_the_users_offer_has_metas_shape() -> None:
    offer = lines(meta_offer(AIORTC_OFFER))
    assert "a=ice-lite" in offer[: offer.index("m=audio 35421 UDP/TLS/RTP/SAVPF 111 126")]
    assert [line for line in offer if line.startswith("a=fingerprint:")] == ["a=fingerprint:sha-256 32:94:C3"]
    assert "a=rtpmap:111 opus/48000/2" in offer and f"a=fmtp:111 {OPUS_FMTP}" in offer
    assert "a=rtpmap:126 telephone-event/8000" in offer and "a=ptime:20" in offer
    assert not any(codec in line for line in offer for codec in ("PCMU", "PCMA", "G722", ":96 "))
    assert "a=candidate:1 1 udp 2130706431 127.0.0.1 35421 typ host" in offer  # media still reaches the user


def test_the_users_answer_keeps_the_business_telephone_event() -> None:
    """Meta's sample answer to a business's offer keeps telephone-event/8000 on the offer's payload type."""
    aiortc_answer = AIORTC_OFFER.replace("96 9 0 8", "111").replace("rtpmap:96", "rtpmap:111")
    answer = meta_answer(aiortc_answer, META_SAMPLE_BUSINESS_OFFER)
    assert rtpmap_pt(answer, "telephone-event/8000") == 126
    assert "a=ice-lite" in lines(answer) and "sha-384" not in answer
    assert rtpmap_pt(meta_answer(aiortc_answer, AIORTC_OFFER), "telephone-event/8000") is None  # none offered
    assert rtpmap_pt(META_SAMPLE_ANSWER.replace("111 126", "111"), "telephone-event/8000") is None  # not listed


@pytest.mark.parametrize(
    ("sdp", "sdp_type"),
    [
        (META_SAMPLE_ANSWER, "answer"),
        (META_SAMPLE_BUSINESS_OFFER, "offer"),
        (META_SAMPLE_ANSWER.replace("t=0 0\n", "t=0 0\na=ice-lite\n"), "answer"),  # accepted by Meta up front
        (META_SAMPLE_ANSWER.replace("sha-256", "SHA-256"), "answer"),
    ],
)
def test_what_meta_accepts_is_accepted(sdp: str, sdp_type: str) -> None:
    check_business_sdp(sdp, sdp_type)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("a=fingerprint:sha-256", "a=fingerprint:sha-384"), "Fingerprint algo is not SHA256"),
        (("a=fingerprint:sha-256", "a=fingerprint:sha-512"), "Fingerprint algo is not SHA256"),
        (("opus/48000/2", "PCMU/8000"), "OPUS"),
        (("a=ice-pwd:7fJSbV2N5qWiA5QiDKwK3vuh\n", ""), "ICE credentials"),
        (("a=setup:active", "a=setup:passive"), "a=setup:passive"),
        (("v=0", "x=0"), "v=0"),
    ],
)
def test_what_meta_refuses_is_refused(change: tuple[str, str], message: str) -> None:
    with pytest.raises(SdpRejected, match=message) as refused:
        check_business_sdp(META_SAMPLE_ANSWER.replace(*change), "answer")
    if "Fingerprint" in message:
        assert refused.value.subcode == 2494010


def test_sdps_are_the_same_whatever_their_line_endings() -> None:
    assert same_sdp(META_SAMPLE_ANSWER, META_SAMPLE_ANSWER.replace("\n", "\r\n"))
    assert not same_sdp(META_SAMPLE_ANSWER, META_SAMPLE_ANSWER.replace("X1ho", "X2ho"))
