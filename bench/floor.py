"""The forwarding floor, measured the same way as the paths: a gateway whose lean path is cut down to a bare
forwarder, in the same harness, on the same core, under the same load.

The gateway sets calls up as always (aiortc: ICE, DTLS, SRTP keys; the router picks the straight sink and its
lane), but each SRTP packet that arrives is only unprotected in place, given the destination leg's SSRC,
sequence number and timestamp in its header, protected in place and sent: no reader, no statistics, no jitter
buffer, no router, no timeline (shared/reference/aiortc-media.md, "The forwarding floor": "SRTP done in place").
RTCP keeps going through the path as before (reports still go out on their timers), STUN to aioice. What this
costs is what SRTP, ``sendto`` and the event loop cost here; the lean path's figure above it is our code.

A ``sitecustomize`` given to that gateway alone installs it (:func:`environment`); it is not part of callbridge.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

import pylibsrtp

from callbridge.media.lean.demux import is_rtcp
from callbridge.media.lean.leg_path import LeanLegPath

_FIELDS = struct.Struct("!BHII")  # the second byte (marker, payload type), sequence number, timestamp, SSRC
SITECUSTOMIZE = "import bench.floor\nbench.floor.install()\n"


class _Stream:
    """Where one leg's packets go, and that destination's numbering for them."""

    def __init__(self, destination: LeanLegPath, first_timestamp: int) -> None:
        writer: Any = destination._writer
        self.destination = destination
        self.tx: Any = destination._tx
        self.transport, self.remote = destination._transport, destination._remote
        self.payload_type, self.ssrc = writer.payload_type, writer.ssrc
        self.sequence = writer.sequence
        self.offset = writer.timestamp_base - first_timestamp


def _destination(path: LeanLegPath) -> LeanLegPath | None:
    """The leg the router sends this leg's voice straight to (its lane's output's send), if any. That output's
    silence clock stops: it would fill in for the frames the floor sends past it."""
    lane = getattr(path.inbound, "lane", None)
    output = getattr(getattr(lane, "forward", None), "__self__", None)
    send = getattr(output, "_send", None)
    destination = getattr(send, "__self__", None)
    if not isinstance(destination, LeanLegPath) or destination._writer is None:
        return None
    pacer = getattr(output, "_pacer", None)
    if pacer is not None:
        pacer.discard(output)
    return destination


def install() -> None:
    generic = LeanLegPath._datagram

    def forward(self: LeanLegPath, data: bytes, addr: Any) -> None:
        rx = self._rx
        stream: _Stream | None = vars(self).get("_floor")
        if rx is None or stream is None or is_rtcp(data) or stream.destination._tx is None:
            generic(self, data, addr)  # RTCP, and the first packets (until the router has chosen the way)
            destination = _destination(self) if rx is not None and not is_rtcp(data) else None
            if destination is not None:
                vars(self)["_floor"] = _Stream(destination, _FIELDS.unpack_from(data, 1)[2])
            return
        try:
            size = rx.unprotect(data)
        except (pylibsrtp.Error, ValueError):
            return
        tx = stream.tx
        view = tx.view
        view[:size] = rx.view[:size]
        _, _, timestamp, _ = _FIELDS.unpack_from(view, 1)
        _FIELDS.pack_into(
            view, 1, stream.payload_type, stream.sequence, (timestamp + stream.offset) & 0xFFFFFFFF, stream.ssrc
        )
        stream.sequence = (stream.sequence + 1) & 0xFFFF
        stream.transport.sendto(view[: tx.protect(size)].tobytes(), stream.remote)

    LeanLegPath._datagram = forward  # type: ignore[method-assign]  # this gateway process only (sitecustomize)


def environment(workdir: Path) -> dict[str, str]:
    """The environment that makes a gateway process the floor: a ``sitecustomize`` that installs it."""
    site = workdir / "floor-site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    root = str(Path(__file__).resolve().parent.parent)
    return {"PYTHONPATH": os.pathsep.join(p for p in (str(site), root, os.environ.get("PYTHONPATH", "")) if p)}
