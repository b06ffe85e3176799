"""A virtual WhatsApp user's media: an aiortc peer that talks through a Mouth, listens with an Ear and presses
keys on a KeyPad.

It presents itself like Meta's media servers: SDP in Meta's shape (meta_sdp.py), ``a=ice-lite`` and the
controlled ICE role.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, cast

from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import is_rtcp
from av import AudioFrame

from callbridge.emulator.audio import Ear, Mouth
from callbridge.emulator.dtmf import KeyPad
from callbridge.emulator.markers import MarkerMedia, MarkerMediaFactory, TrackMarkers
from callbridge.emulator.meta_sdp import meta_answer, meta_offer, rtpmap_pt

log = logging.getLogger(__name__)
TELEPHONE_EVENT = "telephone-event/8000"  # Meta's only DTMF clock rate

BUSINESS_MARKER_HZ = 3000.0  # what a benchmark's browser marks its audio with
USER_MARKER_HZ = 2000.0  # what a user in "markers" mode marks its audio with


def drop_outgoing_rtp(pc: RTCPeerConnection, share: Callable[[], float]) -> None:
    """Lose a share of the RTP ``pc`` sends (RTCP still goes), as a bad network on the way out would."""
    for transceiver in pc.getTransceivers():
        dtls: Any = transceiver.sender.transport  # Any: its RTP send method is patched below
        send = dtls._send_rtp

        async def lossy(data: bytes, send: Callable[[bytes], Awaitable[None]] = send) -> None:
            if share() and not is_rtcp(data) and random.random() < share():
                return
            await send(data)

        dtls._send_rtp = lossy


def rewrite_outgoing_rtp(pc: RTCPeerConnection, rewrite: Callable[[bytes], bytes]) -> None:
    """Pass every packet ``pc`` sends through ``rewrite`` before it is encrypted."""
    for transceiver in pc.getTransceivers():
        dtls: Any = transceiver.sender.transport  # Any: its RTP send method is patched below
        send = dtls._send_rtp

        async def rewritten(data: bytes, send: Callable[[bytes], Awaitable[None]] = send) -> None:
            await send(rewrite(data))

        dtls._send_rtp = rewritten


class UserPeer:
    # How a user in "markers" mode sends and times its audio: on aiortc's own sender and receiver, unless the
    # process was told otherwise (the benchmarks put a lighter one here: bench/marker_leg.py, which applies the
    # user's loss itself and sends no key presses: the key pad and the loss below work on aiortc's sender).
    marker_media_factory: ClassVar[MarkerMediaFactory] = TrackMarkers

    def __init__(self, markers: bool = False) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.mouth = Mouth()
        self.ear = Ear()
        self.loss = 0.0  # share of the packets this user sends that never reach the business
        # Benchmarks: pre-encoded audio with timing markers, and markers spotted as packets arrive.
        self.marker_media: MarkerMedia | None = None
        if markers:
            make = UserPeer.marker_media_factory
            self.marker_media = make(self.pc, USER_MARKER_HZ, BUSINESS_MARKER_HZ, lambda: self.loss)
        else:
            self.pc.addTransceiver(self.mouth, direction="sendrecv")
        self.keypad = KeyPad()
        self._listening: asyncio.Task[None] | None = None
        self.pc.on("track", self._on_track)

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        self._install_taps()
        for transceiver in self.pc.getTransceivers():
            # Meta is ice-lite, so the business is always the controlling agent.
            transceiver.sender.transport.transport._connection.ice_controlling = False
        return meta_offer(self.pc.localDescription.sdp)

    async def answer(self, offer_sdp: str) -> str:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        self._install_taps()
        answer = meta_answer(self.pc.localDescription.sdp, offer_sdp)
        self.keypad.payload_type = rtpmap_pt(answer, TELEPHONE_EVENT)
        return answer

    async def accept_answer(self, answer_sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))
        # Keys go out only on a payload type the business's answer accepted.
        self.keypad.payload_type = rtpmap_pt(answer_sdp, TELEPHONE_EVENT)

    def vanish(self) -> None:
        """Stop answering the network at once, without the DTLS close a normal hang-up sends."""
        for transceiver in self.pc.getTransceivers():
            connection = transceiver.sender.transport.transport._connection
            for protocol in connection._protocols:
                if protocol.transport is not None:
                    protocol.transport.close()

    def last_heard(self) -> float | None:
        return self.marker_media.tap.last_at if self.marker_media is not None else self.ear.last_at

    def markers(self) -> dict[str, object]:
        return self.marker_media.report() if self.marker_media is not None else {}

    @property
    def connected(self) -> bool:
        return self.pc.connectionState == "connected"

    async def close(self) -> None:
        if self._listening is not None:
            self._listening.cancel()
        self.mouth.stop()
        if self.marker_media is not None:
            self.marker_media.close()
        await self.pc.close()

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._listening = asyncio.create_task(self._listen(track))

    def _install_taps(self) -> None:
        drop_outgoing_rtp(self.pc, lambda: self.loss)
        rewrite_outgoing_rtp(self.pc, self.keypad.rewrite)  # key presses replace audio, then the network loses some

    async def _listen(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
            while True:
                frame = cast(AudioFrame, await track.recv())  # an audio track yields audio frames
                self.mouth.hear_for_echo(self.ear.hear(frame))
