"""/call/webrtc/*: a browser joins a call's audio. Config and offer answer bare objects, as WaGo documents them.

Every route here takes the session token or a call token from POST /call/webrtc/token, so the page that
joins a call never needs the session token.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from callbridge.api import call_tokens
from callbridge.api.auth import Access, Session
from callbridge.api.deps import Calls, CallTokenKey, Ice, SettingsDep
from callbridge.api.envelope import ok
from callbridge.api.models import CallIDRequest, WebRTCCloseRequest, WebRTCOfferRequest
from callbridge.api.openapi import Envelope, errors
from callbridge.api.schemas import CallToken, WebRTCAnswer, WebRTCClosed, WebRTCConfig
from callbridge.errors import Conflict, InvalidRequest
from callbridge.media.ice import IceSettings

router = APIRouter(prefix="/call/webrtc", tags=["browser audio"])


def turn_status(ice: IceSettings) -> dict[str, object]:
    return {"enabled": ice.turn_configured, "status": "configured" if ice.turn_configured else "disabled"}


@router.get(
    "/config",
    summary="ICE servers (with fresh TURN credentials) for the browser's RTCPeerConnection",
    response_model=WebRTCConfig,
    responses=errors(401),
)
async def config(access: Access, ice: Ice) -> JSONResponse:
    servers = ice.browser_config(access.only_call or access.session.name)
    return JSONResponse({"iceServers": servers, "turn": turn_status(ice)})


@router.post(
    "/token",
    summary="A short-lived token for one call's browser routes and events (give it to the page)",
    response_model=Envelope[CallToken],
    responses=errors(400, 401, 404, 408, 409, 413),
)
async def token(
    body: CallIDRequest, session: Session, calls: Calls, key: CallTokenKey, settings: SettingsDep
) -> JSONResponse:
    call = await calls.get(session, body.call_id)
    if not call.live:
        raise Conflict(f"the call has already ended ({call.end_reason})")
    value, expires_at = call_tokens.mint(key, session.id, call.id, settings.call_token_ttl)
    return ok({"token": value, "expiresAt": expires_at, "CallID": call.id})


@router.post(
    "/offer",
    summary="Attach a browser to a call: a complete offer in, the answer out",
    response_model=WebRTCAnswer,
    responses=errors(400, 401, 404, 408, 409, 413, 500),
)
async def offer(body: WebRTCOfferRequest, access: Access, calls: Calls, ice: Ice) -> JSONResponse:
    access.require(body.call_id)
    if body.type != "offer":
        raise InvalidRequest(f'type must be "offer", not {body.type!r}')
    answer = await (await calls.active_media(access.session, body.call_id)).attach_browser(body.sdp)
    return JSONResponse({"callID": body.call_id, "type": "answer", "sdp": answer, "turn": turn_status(ice)})


@router.post(
    "/close",
    summary="Detach the browser; the WhatsApp leg stays up (and hears silence)",
    response_model=WebRTCClosed,
    responses=errors(400, 401, 404, 408, 409, 413),
)
async def close(body: WebRTCCloseRequest, access: Access, calls: Calls) -> JSONResponse:
    access.require(body.call_id)
    closed = await (await calls.active_media(access.session, body.call_id)).detach_browser("closed by the app")
    return JSONResponse({"callID": body.call_id, "closed": closed})
