"""What a native RTP app needs to know about its stream: codecs, addresses, and the SDP describing it."""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass

Address = tuple[str, int]


@dataclass(frozen=True)
class Codec:
    name: str  # as the API names it
    payload_type: int
    encoding: str  # as rtpmap names it
    clock_rate: int
    channels: int = 1
    fmtp: str = ""

    @property
    def rtpmap(self) -> str:
        channels = f"/{self.channels}" if self.channels > 1 else ""
        return f"{self.payload_type} {self.encoding}/{self.clock_rate}{channels}"

    @property
    def samples_per_frame(self) -> int:
        return self.clock_rate * PTIME_MS // 1000


PTIME_MS = 20
CODECS = {
    "opus": Codec("opus", 111, "opus", 48000, channels=2, fmtp="minptime=10;useinbandfec=1"),
    "pcmu": Codec("pcmu", 0, "PCMU", 8000),
    "pcma": Codec("pcma", 8, "PCMA", 8000),
}
SRTP_SUITE = "AES_CM_128_HMAC_SHA1_80"


def codec_named(name: str) -> Codec:
    codec = CODECS.get(name.strip().lower())
    if codec is None:
        raise ValueError(f"unknown codec {name[:32]!r}: use opus, pcmu or pcma")
    return codec


def parse_address(text: str) -> Address:
    """``"ip:port"`` or ``"[ipv6]:port"`` to a normalized ``(ip, port)``; ``ValueError`` saying what is wrong."""
    text = text.strip()
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{text[:64]!r} is not host:port (e.g. 127.0.0.1:5004)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"{text[:64]!r}: write an IPv6 address in brackets, [::1]:5004")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{host[:64]!r} is not an IP address (names are not resolved)") from None
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"port {port_text[:16]!r} is not a number from 1 to 65535")
    return str(ip), int(port_text)


def format_address(address: Address) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_ports(text: str) -> range:
    """``"40000-40999"`` (or a single port) to the ports to try; ``ValueError`` if it is not a valid range."""
    first, _, last = text.strip().partition("-")
    if not first.strip().isdigit() or (last and not last.strip().isdigit()):
        raise ValueError(f"port range {text!r} is not FIRST-LAST, e.g. 40000-40999")
    low, high = int(first), int(last or first)
    if not 1024 <= low <= high <= 65535:
        raise ValueError(f"port range {text!r} must lie within 1024-65535, first <= last")
    return range(low, high + 1)


def describe(codec: Codec, receives_at: Address, source: str, crypto_key: str | None = None) -> str:
    """The session description of the stream as the app sees it: it receives at ``receives_at`` (c=, m=) what
    the gateway (``source``) sends; ``ffmpeg -i stream.sdp`` or GStreamer's sdpdemux can read it as it is."""
    host, port = receives_at
    family = "IP6" if ":" in host else "IP4"
    origin_family = "IP6" if ":" in source else "IP4"
    session = secrets.randbelow(1 << 62)
    lines = [
        "v=0",
        f"o=- {session} {session} IN {origin_family} {source}",
        "s=callbridge",
        f"c=IN {family} {host}",
        "t=0 0",
        f"m=audio {port} {'RTP/SAVP' if crypto_key else 'RTP/AVP'} {codec.payload_type}",
        f"a=rtpmap:{codec.rtpmap}",
    ]
    if codec.fmtp:
        lines.append(f"a=fmtp:{codec.payload_type} {codec.fmtp}")
    lines.append(f"a=ptime:{PTIME_MS}")
    if crypto_key:
        lines.append(f"a=crypto:1 {SRTP_SUITE} inline:{crypto_key}")
    lines.append("a=sendrecv")
    return "\r\n".join(lines) + "\r\n"
