"""/call/webrtc/*: a browser joins a call's audio. Config and offer answer bare objects, as WaGo documents them.

Every route here takes the session token or a call token from POST /call/webrtc/token, so the page that
joins a call never needs the session token. A call carries several endpoints (an agent, a supervisor
listening in, a coach whispering), each under its own ``endpointID``; WaGo's clients, which send none, get the
one ``"default"`` talker they always had.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from callbridge.api import call_tokens
from callbridge.api.auth import Access, Session
from callbridge.api.deps import Calls, CallTokenKey, Ice, SettingsDep
from callbridge.api.envelope import ok
from callbridge.api.models import ROLES, CallTokenRequest, WebRTCCloseRequest, WebRTCOfferRequest
from callbridge.api.openapi import Envelope, errors
from callbridge.api.schemas import CallToken, WebRTCAnswer, WebRTCClosed, WebRTCConfig
from callbridge.errors import Conflict, InvalidRequest
from callbridge.media.endpoint import Role
from callbridge.media.ice import IceSettings

router = APIRouter(prefix="/call/webrtc", tags=["browser audio"])


def parse_role(value: str) -> Role:
    if value.lower() not in ROLES:
        raise InvalidRequest(f"unknown role {value[:32]!r}: use talk, listen or whisper")
    return Role(value.lower())


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
    summary="A short-lived token for one call's browser routes and events (give it to the page); with Role listen or"
    " whisper it attaches only such endpoints (a supervisor's link)",
    response_model=Envelope[CallToken],
    responses=errors(400, 401, 404, 408, 409, 413),
)
async def token(
    body: CallTokenRequest, session: Session, calls: Calls, key: CallTokenKey, settings: SettingsDep
) -> JSONResponse:
    role = parse_role(body.role)
    call = await calls.get(session, body.call_id)
    if not call.live:
        raise Conflict(f"the call has already ended ({call.end_reason})")
    generation = call.media.generation if call.media is not None else 0
    return ok(mint_call_token(key, session.id, call.id, settings.call_token_ttl, role, generation))


def mint_call_token(
    key: str, session_id: int, call_id: str, ttl: int, role: Role, generation: int
) -> dict[str, object]:
    value, expires_at = call_tokens.mint(key, session_id, call_id, ttl, role=role.value, generation=generation)
    return {"token": value, "expiresAt": expires_at, "CallID": call_id, "Role": role.value}


@router.post(
    "/offer",
    summary="Attach a browser to a call as an endpoint (a complete offer in, the answer out); an offer for an"
    " existing endpointID replaces it",
    response_model=WebRTCAnswer,
    responses=errors(400, 401, 403, 404, 408, 409, 413, 500),
)
async def offer(body: WebRTCOfferRequest, access: Access, calls: Calls, ice: Ice) -> JSONResponse:
    access.require(body.call_id)
    role = parse_role(body.role)
    access.require_role(role)
    if body.type != "offer":
        raise InvalidRequest(f'type must be "offer", not {body.type!r}')
    media = await calls.active_media(access.session, body.call_id)
    access.require_current(media.generation)
    if (existing := media.endpoints.get(body.endpoint_id)) is not None:
        access.require_role(existing.role)  # a listen token must not replace the agent
    answer = await media.attach_webrtc(body.sdp, body.endpoint_id, role)
    return JSONResponse(
        {
            "callID": body.call_id,
            "type": "answer",
            "sdp": answer,
            "turn": turn_status(ice),
            "endpointID": body.endpoint_id,
            "role": role.value,
        }
    )


@router.post(
    "/close",
    summary="Detach an endpoint (default: the default one); the call and its other endpoints go on",
    response_model=WebRTCClosed,
    responses=errors(400, 401, 403, 404, 408, 409, 413),
)
async def close(body: WebRTCCloseRequest, access: Access, calls: Calls) -> JSONResponse:
    access.require(body.call_id)
    media = await calls.active_media(access.session, body.call_id)
    if (existing := media.endpoints.get(body.endpoint_id)) is not None:
        access.require_role(existing.role)
    closed = await media.detach(body.endpoint_id, "closed by the app")
    return JSONResponse({"callID": body.call_id, "closed": closed, "endpointID": body.endpoint_id})
