"""/call/webrtc/*: a browser joins a call's audio. Config and offer answer bare objects, as WaGo documents them.

Every route here takes the session token or a call token from POST /call/webrtc/token, so the page that
joins a call never needs the session token.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from callbridge.api import call_tokens
from callbridge.api.auth import CallAccess, call_access, gateway, session_auth
from callbridge.api.envelope import ok
from callbridge.api.models import CallIDRequest, WebRTCCloseRequest, WebRTCOfferRequest
from callbridge.errors import Conflict, InvalidRequest
from callbridge.store.models import SessionRow

router = APIRouter(prefix="/call/webrtc", tags=["browser audio"])


def turn_status(request: Request) -> dict[str, object]:
    enabled = gateway(request).ice.turn_configured
    return {"enabled": enabled, "status": "configured" if enabled else "disabled"}


@router.get("/config", summary="ICE servers (with fresh TURN credentials) for the browser's RTCPeerConnection")
async def config(request: Request, access: CallAccess = Depends(call_access)) -> JSONResponse:
    user = access.only_call or access.session.name
    servers = gateway(request).ice.browser_config(user)
    return JSONResponse({"iceServers": servers, "turn": turn_status(request)})


@router.post("/token", summary="A short-lived token for one call's browser routes and events (give it to the page)")
async def token(request: Request, body: CallIDRequest, session: SessionRow = Depends(session_auth)) -> JSONResponse:
    gw = gateway(request)
    call = await gw.calls.get(session, body.call_id)
    if not call.live:
        raise Conflict(f"the call has already ended ({call.end_reason})")
    value, expires_at = call_tokens.mint(gw.call_token_key, session.id, call.id, gw.settings.call_token_ttl)
    return ok({"token": value, "expiresAt": expires_at, "CallID": call.id})


@router.post("/offer", summary="Attach a browser to a call: a complete offer in, the answer out")
async def offer(request: Request, body: WebRTCOfferRequest, access: CallAccess = Depends(call_access)) -> JSONResponse:
    access.require(body.call_id)
    if body.type != "offer":
        raise InvalidRequest(f'type must be "offer", not {body.type!r}')
    answer = await gateway(request).calls.attach_browser(access.session, body.call_id, body.sdp)
    return JSONResponse({"callID": body.call_id, "type": "answer", "sdp": answer, "turn": turn_status(request)})


@router.post("/close", summary="Detach the browser; the WhatsApp leg stays up (and hears silence)")
async def close(request: Request, body: WebRTCCloseRequest, access: CallAccess = Depends(call_access)) -> JSONResponse:
    access.require(body.call_id)
    closed = await gateway(request).calls.detach_browser(access.session, body.call_id)
    return JSONResponse({"callID": body.call_id, "closed": closed})
