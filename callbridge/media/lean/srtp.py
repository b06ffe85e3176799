"""SRTP done in place: a keyed pylibsrtp session, called without its per-packet wrapper.

``pylibsrtp.Session.protect``/``unprotect`` check types, allocate a length cell and copy the packet in and out on
every call: on the forwarding path that costs about as much as the cipher (shared/reference/aiortc-media.md, "The
forwarding floor"). Here each direction of a leg keeps one buffer (:attr:`view`). A received packet is copied in
once and unprotected there; a packet to send is written there (header, extensions, payload), protected there and
sent from there. RTCP (a few packets a second) keeps going through the session's own methods.

This reads two private names of pylibsrtp 1.0.0 (``Session._srtp`` and the ``_binding`` module): keep it pinned.
"""

from __future__ import annotations

from pylibsrtp import Error, Session
from pylibsrtp import _binding as binding

SIZE = 1500 + 148  # the largest media datagram, plus room for the longest trailer (tag + MKI) libsrtp may add

_ERRORS = {
    7: "authentication failure",
    9: "replay check failed (bad index)",
    10: "replay check failed (index too old)",
}


class InPlaceSrtp:
    def __init__(self, session: Session) -> None:
        self.session = session  # keeps the libsrtp context alive: the session frees it when collected
        self._context = session._srtp[0]
        self._cdata = binding.ffi.new("char[]", SIZE)
        self.view = memoryview(binding.ffi.buffer(self._cdata))  # writable; slices of it are sent without a copy
        self._length = binding.ffi.new("int *")
        self._protect = binding.lib.srtp_protect
        self._unprotect = binding.lib.srtp_unprotect

    def unprotect(self, data: bytes) -> int:
        """Copy an SRTP packet in and check and decrypt it there; the RTP packet's length in :attr:`view`.
        ``pylibsrtp.Error`` if it does not authenticate (or replays), ``ValueError`` if it cannot fit."""
        size = len(data)
        if size > SIZE:
            raise ValueError("packet is too long")
        self.view[0:size] = data
        length = self._length
        length[0] = size
        status = self._unprotect(self._context, self._cdata, length)
        if status:
            raise Error(_ERRORS.get(status, f"libsrtp error {status}"))
        return int(length[0])

    def protect(self, size: int) -> int:
        """Protect the RTP packet of ``size`` bytes written at the start of :attr:`view`; its new length."""
        if size > SIZE - 148:
            raise ValueError("packet is too long")
        length = self._length
        length[0] = size
        status = self._protect(self._context, self._cdata, length)
        if status:
            raise Error(_ERRORS.get(status, f"libsrtp error {status}"))
        return int(length[0])
