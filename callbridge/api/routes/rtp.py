"""/call/rtp: a native RTP app (ffmpeg, GStreamer, a PBX, a hardware phone) joins a call's audio without WebRTC.

The gateway binds a UDP port pair for it and answers with where to send and an SDP of what it will receive.
Opus passes through untouched; PCMU and PCMA are transcoded at the endpoint; SRTP keys come with the answer.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from callbridge.api.auth import Session
from callbridge.api.deps import Calls, SettingsDep
from callbridge.api.envelope import ok
from callbridge.api.models import RtpCloseRequest, RtpRequest
from callbridge.api.openapi import Envelope, errors
from callbridge.api.routes.webrtc import parse_role
from callbridge.api.schemas import RtpClosed, RtpOpened
from callbridge.config import Settings
from callbridge.errors import Conflict, InvalidRequest
from callbridge.media.rtp_endpoint import RtpDescription, RtpEndpoint, RtpOptions
from callbridge.media.rtp_sdp import Address, codec_named, parse_address, parse_ports

router = APIRouter(prefix="/call/rtp", tags=["native RTP"])


@router.post(
    "",
    summary="Attach a native RTP app to a call: the gateway binds a port pair and answers with LocalAddress (send"
    " there), the codec and the SDP of what the app receives; 409 also when CALLBRIDGE_RTP_PORTS has no free pair",
    response_model=Envelope[RtpOpened],
    responses=errors(400, 401, 404, 408, 409, 413),
)
async def open_rtp(body: RtpRequest, session: Session, calls: Calls, settings: SettingsDep) -> JSONResponse:
    role = parse_role(body.role)
    try:
        codec = codec_named(body.codec)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    remote = _remote(body.remote_address, settings) if body.remote_address else None
    media = await calls.active_media(session, body.call_id)
    media.make_room(body.endpoint_id)
    options = RtpOptions(
        codec=codec,
        host=settings.rtp_host,
        ports=parse_ports(settings.rtp_ports),
        remote=remote,
        srtp=body.srtp,
        idle_limit=settings.rtp_idle,
    )
    endpoint = await RtpEndpoint.open(body.endpoint_id, role, options)
    try:
        await media.attach(endpoint)
    except BaseException:
        await endpoint.close()
        raise
    return ok(_view(endpoint.description()))


def _view(d: RtpDescription) -> dict[str, Any]:
    srtp = {"Suite": d.srtp_suite, "Key": d.srtp_key} if d.srtp_key is not None else None
    return {
        "EndpointID": d.endpoint_id,
        "LocalAddress": d.local_address,
        "Codec": d.codec.name,
        "PayloadType": d.codec.payload_type,
        "SampleRate": d.codec.clock_rate,
        "Ptime": d.ptime_ms,
        "SDP": d.sdp,
        "SRTP": srtp,
    }


def _remote(text: str, settings: Settings) -> Address:
    try:
        address = parse_address(text)
    except ValueError as exc:
        raise InvalidRequest(f"invalid RemoteAddress: {exc}") from None
    if (":" in address[0]) != (":" in settings.rtp_host):
        family = "IPv6" if ":" in settings.rtp_host else "IPv4"
        raise InvalidRequest(f"invalid RemoteAddress: the gateway's RTP socket (CALLBRIDGE_RTP_HOST) is {family}")
    return address


@router.post(
    "/close",
    summary="Detach a native RTP endpoint (default: rtp) and free its ports; the call goes on",
    response_model=Envelope[RtpClosed],
    responses=errors(400, 401, 404, 408, 409, 413),
)
async def close_rtp(body: RtpCloseRequest, session: Session, calls: Calls) -> JSONResponse:
    media = await calls.active_media(session, body.call_id)
    existing = media.endpoints.get(body.endpoint_id)
    if existing is not None and existing.kind != RtpEndpoint.kind:
        raise Conflict(f"endpoint {body.endpoint_id!r} is a {existing.kind} endpoint, not an RTP one")
    closed = await media.detach(body.endpoint_id, "closed by the app")
    return ok({"CallID": body.call_id, "EndpointID": body.endpoint_id, "Closed": closed})
