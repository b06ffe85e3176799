"""A benchmark peer's audio on the gateway's lean packet path: the marker loop out, markers timed on arrival.

aiortc's sender and receiver run a task per peer and wake per frame; with 80 such peers the load generators fill a
core at 40 calls, before the gateway does (bench/paths.py pins them apart). Here aiortc only connects (ICE, DTLS,
SRTP keys) and the peer's packets go through :class:`LeanLegPath`, as the gateway's own do. Every peer keeps its own
20 ms schedule, starting when its DTLS connects, so packets reach the gateway spread out as independent senders'
do, not in one burst per tick; one timer per event loop serves them all (:class:`MarkerClock`).

The load generator's browsers use it directly (bench/peers.py). The emulator knows nothing of the gateway's code,
so its users in "markers" mode send on aiortc's own sender unless told otherwise: the bench's emulator process
gets a ``sitecustomize`` that makes them use this (:func:`environment`).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import random
import time
from collections.abc import Callable
from pathlib import Path

from aiortc import RTCPeerConnection, RTCRtpTransceiver

from bench.child_site import site_environment
from callbridge.emulator.markers import FRAME, PERIOD_FRAMES, RATE, MarkerTap, encoded_loop
from callbridge.media.lean.leg_path import LeanLegPath
from callbridge.media.lean.pacer import PerLoop
from callbridge.media.lean.rtp_reader import AudioLevel
from callbridge.media.outbound import Send

log = logging.getLogger(__name__)

INTERVAL = FRAME / RATE
EARLY = 0.0005  # a member due this soon goes out with the one the clock woke for: one wake-up, not two


class MarkerSender:
    """An Outlet sending the pre-encoded loop at 20 ms pace from when it is attached; remembers when each marker
    frame left."""

    def __init__(self, packets: list[bytes]) -> None:
        self.packets = packets
        self.sent: list[float] = []
        self.frames = 0
        self._send: Send | None = None
        self._start = 0.0

    def attach(self, send: Send) -> None:
        if self._send is not None:
            return  # already on its schedule (the lean path attaches once)
        self._send = send
        self._start = time.monotonic()
        clock().add(self, self._start)

    def detach(self) -> None:
        self._send = None

    def due(self, now: float) -> float | None:
        """Send every frame due by ``now`` (a stalled loop catches up, as aiortc's sender does); when the next one
        is, or None once detached."""
        send = self._send
        if send is None:
            return None
        while (due := self._start + self.frames * INTERVAL) <= now + EARLY:
            index = self.frames % PERIOD_FRAMES
            if index == 0:
                self.sent.append(time.monotonic())  # as it is handed on, before SRTP and sendto
            send(self.packets[index], self.frames * FRAME)
            self.frames += 1
        return due


class MarkerClock:
    """One timer per event loop, armed for the earliest member due."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._queue: list[tuple[float, int, MarkerSender]] = []
        self._order = itertools.count()  # ties in due time never compare senders
        self._timer: asyncio.TimerHandle | None = None
        self._armed_for = float("inf")

    def add(self, member: MarkerSender, due: float) -> None:
        heapq.heappush(self._queue, (due, next(self._order), member))
        self._arm()

    def _arm(self) -> None:
        if not self._queue:
            return
        due = self._queue[0][0]
        if self._timer is not None and self._armed_for <= due:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._armed_for = due
        self._timer = self.loop.call_later(max(0.0, due - time.monotonic()), self._wake)

    def _wake(self) -> None:
        self._timer, self._armed_for = None, float("inf")
        now = time.monotonic()
        queue = self._queue
        try:
            while queue and queue[0][0] <= now + EARLY:
                _, _, member = heapq.heappop(queue)
                try:
                    following = member.due(now)
                except Exception:  # one peer's failure must not silence the others (the bench would blame us)
                    log.exception("a marker sender failed; dropping it from the clock")
                    continue
                if following is not None:
                    heapq.heappush(queue, (following, next(self._order), member))
        finally:
            self._arm()


clock = PerLoop(MarkerClock)  # the running loop's marker clock: clock()


class MarkerListener:
    """An Inlet handing every received frame to a :class:`MarkerTap` as it arrives (before any jitter buffer)."""

    def __init__(self, tap: MarkerTap) -> None:
        self.tap = tap

    def on_rtp(
        self,
        payload_type: int,
        sequence_number: int,
        timestamp: int,
        payload: bytes,
        level: AudioLevel | None,
        arrival: float,
    ) -> None:
        self.tap.heard(timestamp, payload)

    def heard(self) -> None:
        """RTCP: nothing to time."""


class LossyLegPath(LeanLegPath):
    """Loses a share of the RTP it sends (RTCP still goes), as a bad network on the way out would: the packet's
    sequence number is used up, so the receiver sees the gap."""

    def __init__(self, inbound: MarkerListener, outbound: MarkerSender, share: Callable[[], float]) -> None:
        super().__init__(inbound, outbound)
        self.share = share

    def _send_frame(self, payload: bytes, pts: int) -> None:
        share = self.share()
        if share and random.random() < share and self._writer is not None:
            self._writer.skip()
            return
        super()._send_frame(payload, pts)


class MarkerLeg:
    """A transceiver's audio as a marker peer: the loop marked at ``send_hz`` out, markers at ``listen_hz`` timed
    in. Made before the peer connection connects (aiortc starts the path when DTLS is up)."""

    def __init__(
        self,
        transceiver: RTCRtpTransceiver,
        send_hz: float,
        listen_hz: float,
        tone_hz: float = 440.0,
        loss: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self.sender = MarkerSender(encoded_loop(send_hz, tone_hz))
        self.tap = MarkerTap(None, listen_hz)
        self.path = LossyLegPath(MarkerListener(self.tap), self.sender, loss)
        self.path.install(transceiver.sender, transceiver.receiver)

    @classmethod
    def joining(
        cls, pc: RTCPeerConnection, send_hz: float, listen_hz: float, loss: Callable[[], float] = lambda: 0.0
    ) -> MarkerLeg:
        """A sendrecv audio transceiver added to ``pc``, as a marker peer (the emulator's ``MarkerMediaFactory``)."""
        return cls(pc.addTransceiver("audio", direction="sendrecv"), send_hz, listen_hz, loss=loss)

    def report(self) -> dict[str, object]:
        return {"sent": self.sender.sent, "frames_sent": self.sender.frames, **self.tap.report()}

    def close(self) -> None:
        self.path.close()


SITECUSTOMIZE = "import bench.marker_leg\nbench.marker_leg.install()\n"


def install() -> None:
    """This process's emulator users in "markers" mode run on the lean path."""
    from callbridge.emulator.peer import UserPeer

    UserPeer.marker_media_factory = MarkerLeg.joining


def environment(workdir: Path) -> dict[str, str]:
    """The environment that makes an emulator process's marker users lean: a ``sitecustomize`` that installs it."""
    return site_environment(workdir, "marker-site", SITECUSTOMIZE)
