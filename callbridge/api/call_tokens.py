"""Call-scoped browser tokens: signed, short-lived, good for one call's /call/webrtc/* routes and event stream.

A page holding one can join that call's audio and watch it, and nothing else: it cannot place calls, read
other calls or touch the session, so the session token never has to reach a browser.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

from callbridge.errors import Unauthorized

PREFIX = "cbt."


@dataclass(frozen=True)
class CallGrant:
    session_id: int
    call_id: str
    expires_at: int
    role: str = "talk"  # the endpoint roles it may attach: talk any, listen and whisper only their own
    generation: int = 0  # the call's transfer count when minted: a transfer retires the tokens made before it


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(key: str, payload: str) -> str:
    return _b64(hmac.new(key.encode(), (PREFIX + payload).encode(), hashlib.sha256).digest())


def mint(
    key: str,
    session_id: int,
    call_id: str,
    ttl: int,
    now: float | None = None,
    role: str = "talk",
    generation: int = 0,
) -> tuple[str, int]:
    expires_at = int(now if now is not None else time.time()) + ttl
    claims = {"s": session_id, "c": call_id, "e": expires_at, "r": role, "g": generation}
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"{PREFIX}{payload}.{_sign(key, payload)}", expires_at


def is_call_token(token: str) -> bool:
    return token.startswith(PREFIX)


def verify(key: str, token: str, now: float | None = None) -> CallGrant:
    try:
        payload, signature = token[len(PREFIX) :].split(".")
        if not hmac.compare_digest(signature, _sign(key, payload)):
            raise ValueError("bad signature")
        data = json.loads(_unb64(payload))
        grant = CallGrant(
            int(data["s"]), str(data["c"]), int(data["e"]), str(data.get("r", "talk")), int(data.get("g", 0))
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise Unauthorized("invalid token") from exc
    if grant.expires_at <= (now if now is not None else time.time()):
        raise Unauthorized("call token expired: ask your server for a new one (POST /call/webrtc/token)")
    return grant
