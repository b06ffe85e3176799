"""/call/webrtc/*: a browser joins a call's audio. These routes answer bare objects, as WaGo documents them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from callbridge.api.auth import gateway, session_auth
from callbridge.api.models import WebRTCCloseRequest, WebRTCOfferRequest
from callbridge.errors import InvalidRequest
from callbridge.store.models import SessionRow

router = APIRouter(prefix="/call/webrtc", tags=["browser audio"])


def turn_status(request: Request) -> dict[str, Any]:
    servers = gateway(request).ice.servers
    enabled = any(url.startswith(("turn:", "turns:")) for server in servers for url in server.urls)
    return {"enabled": enabled, "status": "configured" if enabled else "disabled"}


def ice_servers(request: Request) -> list[dict[str, Any]]:
    out = []
    for server in gateway(request).ice.servers:
        entry: dict[str, Any] = {"urls": list(server.urls)}
        if server.username:
            entry["username"] = server.username
        if server.credential:
            entry["credential"] = server.credential
        out.append(entry)
    return out


@router.get("/config", summary="ICE servers for the browser's RTCPeerConnection")
async def config(request: Request, session: SessionRow = Depends(session_auth)) -> JSONResponse:
    return JSONResponse({"iceServers": ice_servers(request), "turn": turn_status(request)})


@router.post("/offer", summary="Attach a browser to a call: a complete offer in, the answer out")
async def offer(
    request: Request, body: WebRTCOfferRequest, session: SessionRow = Depends(session_auth)
) -> JSONResponse:
    if body.type != "offer":
        raise InvalidRequest(f'type must be "offer", not {body.type!r}')
    answer = await gateway(request).calls.attach_browser(session, body.call_id, body.sdp)
    return JSONResponse({"callID": body.call_id, "type": "answer", "sdp": answer, "turn": turn_status(request)})


@router.post("/close", summary="Detach the browser; the WhatsApp leg stays up (and hears silence)")
async def close(
    request: Request, body: WebRTCCloseRequest, session: SessionRow = Depends(session_auth)
) -> JSONResponse:
    closed = await gateway(request).calls.detach_browser(session, body.call_id)
    return JSONResponse({"callID": body.call_id, "closed": closed})
