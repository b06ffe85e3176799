"""Attaching a voice-bot stream to a call: shared by POST /call/stream and auto-answer."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from callbridge.media import stream_protocol as protocol
from callbridge.media.call_media import CallMedia
from callbridge.media.endpoint import Role
from callbridge.media.stream_codec import FORMATS
from callbridge.media.stream_endpoint import StreamEndpoint


def account_sid(session_id: int) -> str:
    """Twilio's accountSid, stable for a session: "AC" and 32 hex digits."""
    return "AC" + hashlib.sha256(f"callbridge-session-{session_id}".encode()).hexdigest()[:32]


async def start_stream(
    media: CallMedia,
    *,
    session_id: int,
    call_id: str,
    url: str,
    role: Role = Role.TALK,
    fmt: str = "twilio",
    tracks: str = "inbound",
    parameters: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> str:
    """Attach the stream and start connecting to the bot in the background; returns its StreamID. ``fmt`` and
    ``tracks`` are checked by the caller (they are keys of FORMATS and protocol.TRACKS)."""
    info = protocol.StreamInfo(
        account_sid=account_sid(session_id),
        stream_sid=protocol.new_stream_sid(),
        call_sid=call_id,
        tracks=protocol.TRACKS[tracks],
        fmt=FORMATS[fmt],
        custom_parameters=dict(parameters or {}),
    )
    media.make_room(info.stream_sid)
    endpoint = StreamEndpoint(info, url, role, dict(headers or {}))
    await media.attach(endpoint)
    endpoint.start()
    return info.stream_sid
