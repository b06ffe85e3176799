"""/call/stream: a voice bot joins a call over a WebSocket that speaks Twilio's Media Streams protocol.

The gateway answers with the StreamID at once and connects to the bot in the background: a bot that cannot be
reached, refuses the handshake or closes its socket later is detached with the reason (EndpointDetached) and the
call goes on. The stream is an endpoint like a browser, under its StreamID, with a role (talk, listen, whisper).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from callbridge.api.auth import Session
from callbridge.api.deps import Calls
from callbridge.api.envelope import ok
from callbridge.api.models import STREAM_FORMATS, STREAM_TRACKS, StreamRequest, StreamStopRequest
from callbridge.api.openapi import Envelope, errors
from callbridge.api.routes.webrtc import parse_role
from callbridge.api.schemas import StreamStarted, StreamStopped
from callbridge.errors import InvalidRequest, NotFound
from callbridge.media.stream_endpoint import StreamEndpoint
from callbridge.media.stream_start import start_stream

router = APIRouter(prefix="/call/stream", tags=["voice-bot streams"])

_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")
# Set by the WebSocket handshake itself; a second copy would break it.
_RESERVED = {"host", "upgrade", "connection", "content-length", "transfer-encoding"}
MAX_ENTRIES = 32
MAX_NAME = 128
MAX_VALUE = 1024


def parse_url(value: str) -> str:
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise InvalidRequest(f"URL is not a valid address: {exc}") from None
    if parts.scheme.lower() not in ("ws", "wss"):
        raise InvalidRequest("URL must start with ws:// or wss://")
    if not parts.hostname or any(c.isspace() for c in value) or port == 0:
        raise InvalidRequest("URL must name a host (and a port from 1 to 65535, if any)")
    return value


def parse_format(value: str) -> str:
    name = value.lower()
    if name not in STREAM_FORMATS:
        raise InvalidRequest(f"unknown Format {value[:32]!r}: use twilio, l16-16k or l16-24k")
    return name


def check_entries(what: str, entries: dict[str, str], header_names: bool) -> dict[str, str]:
    if len(entries) > MAX_ENTRIES:
        raise InvalidRequest(f"{what}: at most {MAX_ENTRIES} entries")
    for name, value in entries.items():
        if not name or len(name) > MAX_NAME or len(value) > MAX_VALUE:
            raise InvalidRequest(f"{what}: names of 1 to {MAX_NAME} and values of at most {MAX_VALUE} characters")
        if header_names:
            if not _HEADER_NAME.match(name):
                raise InvalidRequest(f"Headers: {name[:32]!r} is not a header name")
            if name.lower() in _RESERVED or name.lower().startswith("sec-websocket-"):
                raise InvalidRequest(f"Headers: {name[:32]!r} is set by the WebSocket handshake itself")
            if any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in value) or not value.isascii():
                raise InvalidRequest(f"Headers: the value of {name[:32]!r} must be printable ASCII")
    return entries


@router.post(
    "",
    summary="Attach a voice bot: the gateway connects to URL and speaks Twilio's Media Streams protocol (connected,"
    " start, media, dtmf, mark, stop; the bot sends media, mark, clear)",
    response_model=Envelope[StreamStarted],
    responses=errors(400, 401, 404, 408, 409, 413),
)
async def start(body: StreamRequest, session: Session, calls: Calls) -> JSONResponse:
    role = parse_role(body.role)
    fmt_name, tracks = parse_format(body.format), body.tracks.lower()
    if tracks not in STREAM_TRACKS:
        raise InvalidRequest(f"unknown Tracks {body.tracks[:32]!r}: use inbound or both")
    url = parse_url(body.url)
    headers = check_entries("Headers", body.headers, header_names=True)
    params = check_entries("CustomParameters", body.custom_parameters, header_names=False)
    media = await calls.active_media(session, body.call_id)
    stream_id = await start_stream(
        media,
        session_id=session.id,
        call_id=body.call_id,
        url=url,
        role=role,
        fmt=fmt_name,
        tracks=tracks,
        parameters=params,
        headers=headers,
    )
    return ok({"CallID": body.call_id, "StreamID": stream_id, "Role": role.value, "Format": fmt_name, "Tracks": tracks})


@router.post(
    "/stop",
    summary="Stop a stream: the bot gets stop and its socket is closed; the call and its other endpoints go on",
    response_model=Envelope[StreamStopped],
    responses=errors(400, 401, 404, 408, 409, 413),
)
async def stop(body: StreamStopRequest, session: Session, calls: Calls) -> JSONResponse:
    media = await calls.active_media(session, body.call_id)
    endpoint = media.endpoints.get(body.stream_id)
    if not isinstance(endpoint, StreamEndpoint):
        raise NotFound(f"the call has no stream {body.stream_id[:64]!r} (a stream whose bot went is detached)")
    await media.detach(body.stream_id, "stopped by the app")
    return ok({"CallID": body.call_id, "StreamID": body.stream_id})
