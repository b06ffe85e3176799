"""SDP rules for Meta's media servers (shared/reference/whatsapp-cloud-calling.md §1.7)."""

from __future__ import annotations


def for_meta(sdp: str, *, answer: bool, uppercase_algorithm: bool = False) -> str:
    """Make our SDP acceptable to Meta.

    - only the sha-256 fingerprint: aiortc adds sha-384/512 and Meta answers 400 "Fingerprint algo is not SHA256";
    - never ``a=ice-lite``: we are a full ICE agent, and Meta (ice-lite itself) drops such calls after ~20 s;
    - ``a=setup:active`` in answers: Meta offers actpass and acts as the DTLS server.
    ``uppercase_algorithm`` writes ``SHA-256``, which some BSPs (Wati) require.
    """
    lines = []
    for line in sdp.replace("\r\n", "\n").split("\n"):
        if not line:
            continue
        if line.startswith("a=fingerprint:"):
            algorithm, _, value = line[len("a=fingerprint:") :].partition(" ")
            if algorithm.lower() != "sha-256":
                continue
            line = f"a=fingerprint:{'SHA-256' if uppercase_algorithm else 'sha-256'} {value}"
        elif line.strip() == "a=ice-lite":
            continue
        elif answer and line.startswith("a=setup:"):
            line = "a=setup:active"
        lines.append(line)
    return "\r\n".join(lines) + "\r\n"
