"""The lean path run hot: packets handed one after another to the legs' socket taps (SRTP in, read, jitter
buffer, router, write, SRTP out, ``sendto`` on a real UDP socket), with no event-loop wake-ups between them, so
the figure is the path's own code with warm caches. bench/spans.py measures the same path in place.

    python -m bench.lean_hot            # 1 and 40 calls' legs, round-robin
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import time
from typing import Any, NamedTuple, cast

import pylibsrtp
from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.rtcrtpparameters import (
    RTCRtcpParameters,
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
    RTCRtpReceiveParameters,
    RTCRtpSendParameters,
)
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from callbridge.media.inbound import InboundAudio
from callbridge.media.lean.leg_path import AUDIO_LEVEL_URI, MID_URI, LeanLegPath
from callbridge.media.outbound import OutboundAudio
from callbridge.media.router import Router
from callbridge.media.routing import Routes

OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=111)
EXTENSIONS = [
    RTCRtpHeaderExtensionParameters(id=1, uri=MID_URI),
    RTCRtpHeaderExtensionParameters(id=3, uri=AUDIO_LEVEL_URI),
]
PROFILE = pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM  # what browsers pick


class Attributes:
    """Stands in for the aiortc/aioice objects the path reads (DTLS transport, ICE connection, pair, sender)."""

    def __init__(self, **attributes: Any) -> None:
        self.__dict__.update(attributes)

    def on(self, event: str, handler: Any) -> None:
        pass


class Socket:
    """Where aioice's protocol takes datagrams; its transport is a real one."""

    def __init__(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        pass


def keyed() -> tuple[pylibsrtp.Session, pylibsrtp.Session]:
    key = os.urandom(28)
    kinds = (pylibsrtp.Policy.SSRC_ANY_OUTBOUND, pylibsrtp.Policy.SSRC_ANY_INBOUND)
    out, into = (pylibsrtp.Session(pylibsrtp.Policy(key=key, ssrc_type=k, srtp_profile=PROFILE)) for k in kinds)
    return out, into


class Leg(NamedTuple):
    path: LeanLegPath
    socket: Socket  # where the leg's datagrams are handed in
    peer: pylibsrtp.Session  # the peer's SRTP, to protect what is handed in
    inbound: InboundAudio
    outbound: OutboundAudio


async def leg(sink: tuple[str, int]) -> Leg:
    """One leg on the lean path, sending to ``sink``; with the session a peer protects its packets with."""
    gateway_out, _ = keyed()
    peer_out, gateway_in = keyed()
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
    )
    protocol = Socket(transport)
    pair = Attributes(protocol=protocol, remote_addr=sink)
    ice = Attributes(_connection=Attributes(_nominated={1: pair}, _protocols=[protocol]))
    dtls = Attributes(transport=ice, _rx_srtp=gateway_in, _tx_srtp=gateway_out, state="connected")
    inbound, outbound = InboundAudio(), OutboundAudio()
    path = LeanLegPath(inbound, outbound)
    rtcp = RTCRtcpParameters(cname="gw")
    sender = cast(RTCRtpSender, Attributes(transport=dtls, _ssrc=0x5EED))  # just what the path reads of them
    receiver = cast(RTCRtpReceiver, Attributes(transport=dtls))
    path.sending(sender, RTCRtpSendParameters(codecs=[OPUS], headerExtensions=EXTENSIONS, muxId="0", rtcp=rtcp))
    path.receiving(receiver, RTCRtpReceiveParameters(codecs=[OPUS], headerExtensions=EXTENSIONS, rtcp=rtcp))
    return Leg(path, protocol, peer_out, inbound, outbound)


async def measure(calls: int, packets: int = 20000) -> float:
    """µs per packet through ``calls`` calls' WhatsApp legs (round-robin) to their browser legs."""
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.setblocking(False)
    address = sink.getsockname()
    feeds, paths = [], []
    for _ in range(calls):
        whatsapp, browser = await leg(address), await leg(address)
        router = Router()
        router.listen("whatsapp", whatsapp.inbound)
        router.listen("browser", browser.inbound)
        outputs = {"whatsapp": whatsapp.outbound, "browser": browser.outbound}
        router.apply(Routes(direct={"whatsapp": ("browser",), "browser": ("whatsapp",)}), outputs)
        feeds.append(whatsapp)
        paths += [whatsapp.path, browser.path]
    extensions = HeaderExtensionsMap()
    extensions.configure(RTCRtpReceiveParameters(codecs=[OPUS], headerExtensions=EXTENSIONS))
    datagrams = []
    for n in range(packets):
        path, protocol, peer, _, _ = feeds[n % calls]
        packet = RtpPacket(payload_type=111, sequence_number=(n // calls) & 0xFFFF, timestamp=n // calls * 960, ssrc=7)
        packet.payload, packet.extensions.audio_level = os.urandom(80), (True, 30)
        datagrams.append((peer.protect(packet.serialize(extensions)), protocol.datagram_received))
    warm = packets // 10
    for data, received in datagrams[:warm]:
        received(data, address)
    started = time.process_time()
    for n, (data, received) in enumerate(datagrams[warm:]):
        received(data, address)
        if n % 200 == 0:  # keep the sink's buffer from filling (and sendto from failing)
            try:
                while True:
                    sink.recv(2048)
            except BlockingIOError:
                pass
    spent = time.process_time() - started
    for path in paths:
        path.close()
    sink.close()
    return spent / (packets - warm) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, action="append")
    for calls in parser.parse_args().calls or [1, 40]:
        print(f"{calls:3d} calls: {asyncio.run(measure(calls)):.1f} us of CPU per packet", flush=True)


if __name__ == "__main__":
    main()
