"""The forwarding floor of this design, measured the same way as the paths: a gateway whose lean path is cut down
to a bare forwarder, in the same harness, on the same core, under the same load.

The gateway sets calls up as always (aiortc: ICE, DTLS, SRTP keys; the router picks the straight sink and its
lane), but each Opus packet of a plain call that arrives is only unprotected in place, given the destination leg's
payload type, SSRC and its sequence number and timestamp (the source's, moved by a fixed offset each), protected in
place and sent: no reader, no statistics, no jitter buffer, no router, no timeline (shared/reference/aiortc-media.md,
"The forwarding floor": "SRTP done in place"). The rest goes the lean path's way: RTCP (its reports still go out
on their timers, their counts frozen at the floor's start), telephone events, any packet of a leg whose routing
is not one voice straight to one leg. The source's header extensions go out as they came. What this costs is what
SRTP, ``sendto``, the event loop and one Python call a packet cost here: a floor for this design, not a forwarder
to deploy. Each leg counts what it forwarded so under ``floor`` (``/call/stats``, ``packets``), so a run can tell
the floor from the lean path it falls back to.

A ``sitecustomize`` given to that gateway alone installs it (:func:`environment`); it is not part of callbridge.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pylibsrtp

from bench.child_site import site_environment
from callbridge.media.lean.demux import is_rtcp
from callbridge.media.lean.leg_path import LeanLegPath

_FIELDS = struct.Struct("!BHII")  # the second byte (marker, payload type), sequence number, timestamp, SSRC
SITECUSTOMIZE = "import bench.floor\nbench.floor.install()\n"


class _Stream:
    """Where one leg's voice goes, and how its numbering maps onto the destination's."""

    def __init__(self, lane: Any, destination: LeanLegPath, first: bytes) -> None:
        writer: Any = destination._writer
        second, sequence, timestamp, _ = _FIELDS.unpack_from(first, 1)
        self.lane = lane  # the inbound's lane when this was made: another one means the routing changed
        self.destination = destination
        self.writer = writer
        self.tx: Any = destination._tx
        self.transport, self.remote = destination._transport, destination._remote
        self.source_type = second & 0x7F
        self.payload_type, self.ssrc = writer.payload_type, writer.ssrc
        # ``first`` has just gone the lean path's way, written last by the destination's writer: the source's
        # numbering maps onto the destination's from there, so its stream goes on without a seam.
        self.sequence_offset = writer.sequence - 1 - sequence
        self.timestamp_offset = writer.last_timestamp - timestamp


def _destination(path: LeanLegPath) -> tuple[Any, LeanLegPath] | None:
    """The inbound's lane and the leg it sends this leg's voice straight to (the lane's output's send), if any.
    That output's silence clock stops: it would fill in for the frames the floor sends past it."""
    lane = getattr(path.inbound, "lane", None)
    output = getattr(getattr(lane, "forward", None), "__self__", None)
    send = getattr(output, "_send", None)
    destination = getattr(send, "__self__", None)
    if not isinstance(destination, LeanLegPath) or destination._writer is None:
        return None
    pacer = getattr(output, "_pacer", None)
    if pacer is not None:
        pacer.discard(output)
    return lane, destination


def install() -> None:
    generic = LeanLegPath._datagram

    def forward(self: LeanLegPath, data: bytes, addr: Any) -> None:
        rx = self._rx
        stream: _Stream | None = vars(self).get("_floor")
        if len(data) < 12 or is_rtcp(data) or (stream is not None and data[1] & 0x7F != stream.source_type):
            generic(self, data, addr)  # RTCP, telephone events: the lean path's way, the stream stays
            return
        if (
            rx is None
            or stream is None
            or getattr(self.inbound, "lane", None) is not stream.lane
            or stream.destination._tx is None
        ):
            generic(self, data, addr)  # the first packets, or the routing changed: made anew from this one
            found = _destination(self) if rx is not None else None
            vars(self)["_floor"] = _Stream(*found, data) if found is not None else None
            return
        try:
            size = rx.unprotect(data)
        except (pylibsrtp.Error, ValueError):
            self.counts["srtp_failed"] += 1
            return
        tx = stream.tx
        view = tx.view
        view[:size] = rx.view[:size]
        second, sequence, timestamp, _ = _FIELDS.unpack_from(view, 1)
        sequence = (sequence + stream.sequence_offset) & 0xFFFF
        timestamp = (timestamp + stream.timestamp_offset) & 0xFFFFFFFF
        _FIELDS.pack_into(view, 1, (second & 0x80) | stream.payload_type, sequence, timestamp, stream.ssrc)
        stream.transport.sendto(view[: tx.protect(size)].tobytes(), stream.remote)
        # The destination's writer follows, so whatever it writes next (after a routing change) goes on from here.
        writer = stream.writer
        writer.sequence, writer.last_timestamp = (sequence + 1) & 0xFFFF, timestamp
        self.counts["floor"] = self.counts.get("floor", 0) + 1

    LeanLegPath._datagram = forward  # type: ignore[method-assign]  # this gateway process only (sitecustomize)


def environment(workdir: Path) -> dict[str, str]:
    """The environment that makes a gateway process the floor: a ``sitecustomize`` that installs it."""
    return site_environment(workdir, "floor-site", SITECUSTOMIZE)
