"""/session/*: create, connect and manage sessions (one WhatsApp Business number each)."""

from __future__ import annotations

from fastapi import APIRouter, Body, Depends
from fastapi.responses import JSONResponse

from callbridge.api.auth import Session, TokenHeader, admin_auth
from callbridge.api.deps import GatewayDep, Sessions
from callbridge.api.envelope import ok
from callbridge.api.models import SessionConnectRequest, SessionInitRequest
from callbridge.api.openapi import Envelope, ErrorEnvelope, errors
from callbridge.api.schemas import Details, SessionConnected, SessionCreated, SessionStatus, SessionView
from callbridge.api.views import session_view
from callbridge.errors import InvalidRequest, NotFound

router = APIRouter(prefix="/session", tags=["sessions"])


@router.post(
    "/init",
    dependencies=[Depends(admin_auth)],
    summary="Create a session for a Cloud API number",
    response_model=Envelope[SessionCreated],
    responses=errors(400, 401, 408, 409, 413),
)
async def init(body: SessionInitRequest, sessions: Sessions) -> JSONResponse:
    cloud = body.cloud.model_dump() if body.cloud else None
    row = await sessions.create(body.name, body.token, body.os, cloud)
    return ok({"details": "session created", "name": row.name, "token": row.token, "osName": row.os_name})


@router.post(
    "/connect",
    summary="Connect: verify the Cloud credentials and start handling calls and events",
    response_model=Envelope[SessionConnected],
    responses=errors(400, 401, 408, 413, 500),
)
async def connect(
    session: Session, sessions: Sessions, body: SessionConnectRequest | None = Body(None)
) -> JSONResponse:
    body = body or SessionConnectRequest()
    row = await sessions.connect(session, body.subscribe, body.immediate)
    return ok(
        {
            "details": "Connected!",
            "jid": row.jid or "",
            "events": ",".join(row.subscribe),
            "webhook": row.webhook_url or "",
        }
    )


@router.get(
    "/status",
    summary="Connected (handling calls), LoggedIn (credentials verified), Jid, Events",
    response_model=Envelope[SessionStatus],
    responses=errors(401),
)
async def status(session: Session) -> JSONResponse:
    return ok(
        {
            "Connected": session.connected,
            "LoggedIn": session.logged_in,
            "Jid": session.jid or "",
            "Events": session.subscribe,
        }
    )


@router.post(
    "/disconnect",
    summary="Stop handling calls and events; credentials are kept",
    response_model=Envelope[Details],
    responses=errors(401, 408, 413),
)
async def disconnect(session: Session, sessions: Sessions) -> JSONResponse:
    await sessions.update(session.id, connected=False)
    return ok({"details": "Disconnected"})


@router.post(
    "/logout",
    summary="Disconnect and forget that the credentials were verified",
    response_model=Envelope[Details],
    responses=errors(401, 408, 413),
)
async def logout(session: Session, sessions: Sessions) -> JSONResponse:
    await sessions.update(session.id, connected=False, logged_in=False)
    return ok({"details": "Logged out"})


@router.get(
    "/qr",
    summary="Not used: Cloud sessions log in with credentials",
    # It never succeeds: its one answer is this 400 (WaGo apps call it, so it stays).
    status_code=400,
    response_model=ErrorEnvelope,
    response_description="Cloud API sessions log in with credentials, not a QR code",
    responses=errors(401),
)
async def qr(session: Session) -> JSONResponse:
    raise InvalidRequest("Cloud API sessions log in with credentials, not a QR code; use /session/connect")


@router.get(
    "/all",
    dependencies=[Depends(admin_auth)],
    summary="All sessions (secrets masked)",
    response_model=Envelope[list[SessionView]],
    responses=errors(401),
)
async def all_sessions(sessions: Sessions) -> JSONResponse:
    rows = await sessions.list()
    return ok([session_view(row) for row in rows])


@router.post(
    "/scanned",
    dependencies=[Depends(admin_auth)],
    summary="Sessions whose credentials are verified",
    response_model=Envelope[list[SessionView]],
    responses=errors(401, 408, 413),
)
async def scanned(sessions: Sessions) -> JSONResponse:
    rows = await sessions.list(logged_in_only=True)
    return ok([session_view(row) for row in rows])


@router.post(
    "/delete",
    dependencies=[Depends(admin_auth)],
    summary="Delete the session named by the `token` header (admin)",
    response_model=Envelope[Details],
    responses=errors(400, 401, 404, 408, 413),
)
async def delete(token: TokenHeader, sessions: Sessions, gateway: GatewayDep) -> JSONResponse:
    if not token:
        raise InvalidRequest("missing token header naming the session to delete")
    row = await sessions.by_token(token)
    if row is None:
        raise NotFound("no session has that token")
    await gateway.delete_session(row)
    return ok({"details": f"session {row.name!r} deleted"})
