"""SRTP with keys given out of band (SDES, RFC 4568): one AES_CM_128_HMAC_SHA1_80 master key and salt."""

from __future__ import annotations

import base64
import os

import pylibsrtp

KEY_LENGTH = 30  # 16 bytes of master key and 14 of master salt
SRTP_ERRORS = (pylibsrtp.Error, ValueError)


def new_key() -> bytes:
    return os.urandom(KEY_LENGTH)


def inline(key: bytes) -> str:
    """The key as ``a=crypto``'s inline parameter carries it: base64 of key and salt."""
    return base64.b64encode(key).decode()


class Srtp:
    """Protects what the gateway sends and unprotects what it receives; both directions use the one key (each
    side's packets carry their own SSRC, from which libsrtp derives their own keystream)."""

    def __init__(self, key: bytes) -> None:
        profile = pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80
        self._tx = pylibsrtp.Session(
            pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile)
        )
        self._rx = pylibsrtp.Session(
            pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND, srtp_profile=profile)
        )

    def protect(self, packet: bytes) -> bytes:
        return bytes(self._tx.protect(packet))

    def protect_rtcp(self, packet: bytes) -> bytes:
        return bytes(self._tx.protect_rtcp(packet))

    def unprotect(self, packet: bytes) -> bytes:
        """Raises one of ``SRTP_ERRORS`` for a packet that fails authentication or replays."""
        return bytes(self._rx.unprotect(packet))

    def unprotect_rtcp(self, packet: bytes) -> bytes:
        return bytes(self._rx.unprotect_rtcp(packet))
