"""/session/*: create, connect and manage sessions (one WhatsApp Business number each)."""

from __future__ import annotations

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import JSONResponse

from callbridge.api.auth import _token_header, admin_auth, gateway, session_auth
from callbridge.api.envelope import ok
from callbridge.api.models import SessionConnectRequest, SessionInitRequest
from callbridge.api.views import session_view
from callbridge.errors import InvalidRequest, NotFound
from callbridge.store.models import SessionRow

router = APIRouter(prefix="/session", tags=["sessions"])


@router.post("/init", dependencies=[Depends(admin_auth)], summary="Create a session for a Cloud API number")
async def init(request: Request, body: SessionInitRequest) -> JSONResponse:
    cloud = body.cloud.model_dump() if body.cloud else None
    row = await gateway(request).sessions.create(body.name, body.token, body.os, cloud)
    return ok({"details": "session created", "name": row.name, "token": row.token, "osName": row.os_name})


@router.post("/connect", summary="Connect: verify the Cloud credentials and start handling calls and events")
async def connect(
    request: Request,
    body: SessionConnectRequest | None = Body(None),
    session: SessionRow = Depends(session_auth),
) -> JSONResponse:
    body = body or SessionConnectRequest()
    row = await gateway(request).sessions.connect(session, body.subscribe, body.immediate)
    return ok(
        {
            "details": "Connected!",
            "jid": row.jid or "",
            "events": ",".join(row.subscribe),
            "webhook": row.webhook_url or "",
        }
    )


@router.get("/status", summary="Connected (handling calls), LoggedIn (credentials verified), Jid, Events")
async def status(session: SessionRow = Depends(session_auth)) -> JSONResponse:
    return ok(
        {
            "Connected": session.connected,
            "LoggedIn": session.logged_in,
            "Jid": session.jid or "",
            "Events": session.subscribe,
        }
    )


@router.post("/disconnect", summary="Stop handling calls and events; credentials are kept")
async def disconnect(request: Request, session: SessionRow = Depends(session_auth)) -> JSONResponse:
    await gateway(request).sessions.update(session.id, connected=False)
    return ok({"details": "Disconnected"})


@router.post("/logout", summary="Disconnect and forget that the credentials were verified")
async def logout(request: Request, session: SessionRow = Depends(session_auth)) -> JSONResponse:
    await gateway(request).sessions.update(session.id, connected=False, logged_in=False)
    return ok({"details": "Logged out"})


@router.get("/qr", summary="Not used: Cloud sessions log in with credentials")
async def qr(session: SessionRow = Depends(session_auth)) -> JSONResponse:
    raise InvalidRequest("Cloud API sessions log in with credentials, not a QR code; use /session/connect")


@router.get("/all", dependencies=[Depends(admin_auth)], summary="All sessions (secrets masked)")
async def all_sessions(request: Request) -> JSONResponse:
    rows = await gateway(request).sessions.list()
    return ok([session_view(row) for row in rows])


@router.post("/scanned", dependencies=[Depends(admin_auth)], summary="Sessions whose credentials are verified")
async def scanned(request: Request) -> JSONResponse:
    rows = await gateway(request).sessions.list(logged_in_only=True)
    return ok([session_view(row) for row in rows])


@router.post(
    "/delete",
    dependencies=[Depends(admin_auth)],
    summary="Delete the session named by the `token` header (admin)",
)
async def delete(request: Request, token: str | None = Depends(_token_header)) -> JSONResponse:
    if not token:
        raise InvalidRequest("missing token header naming the session to delete")
    sessions = gateway(request).sessions
    row = await sessions.by_token(token)
    if row is None:
        raise NotFound("no session has that token")
    await gateway(request).before_session_delete(row)
    await sessions.delete(row.id)
    return ok({"details": f"session {row.name!r} deleted"})
