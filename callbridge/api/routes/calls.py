"""/call/*: place, answer, reject and end WhatsApp calls; ask for call permission."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from callbridge.api.auth import gateway, session_auth
from callbridge.api.envelope import ok
from callbridge.api.models import CallIDRequest, MakeCallRequest, PermissionRequest
from callbridge.errors import InvalidRequest
from callbridge.store.models import SessionRow

router = APIRouter(prefix="/call", tags=["calls"])


def query_param(request: Request, name: str) -> str | None:
    """Query parameters match case-insensitively too (?CallID= and ?callid=)."""
    wanted = name.lower()
    return next((v for k, v in request.query_params.items() if k.lower() == wanted), None)


@router.post("/make", summary="Call a WhatsApp user (needs their call permission)")
async def make(request: Request, body: MakeCallRequest, session: SessionRow = Depends(session_auth)) -> JSONResponse:
    call = await gateway(request).calls.make(session, body.phone)
    return ok({"call": call.view()})


@router.post("/accept", summary="Accept a ringing incoming call")
async def accept(request: Request, body: CallIDRequest, session: SessionRow = Depends(session_auth)) -> JSONResponse:
    call = await gateway(request).calls.accept(session, body.call_id)
    return ok({"call": call.view()})


@router.post("/reject", summary="Reject a ringing incoming call")
async def reject(request: Request, body: CallIDRequest, session: SessionRow = Depends(session_auth)) -> JSONResponse:
    call = await gateway(request).calls.reject(session, body.call_id)
    return ok({"call": call.view()})


@router.post("/end", summary="End a live call (tells WhatsApp to terminate it)")
async def end(request: Request, body: CallIDRequest, session: SessionRow = Depends(session_auth)) -> JSONResponse:
    call = await gateway(request).calls.end(session, body.call_id)
    return ok({"call": call.view()})


@router.get(
    "/status",
    summary="One call (?CallID=) or the live calls; ?History=N adds the N most recent ended calls",
)
async def status(
    request: Request,
    session: SessionRow = Depends(session_auth),
    call_id: str | None = Query(None, alias="CallID", description="a call, live or ended"),
    history: int = Query(0, alias="History", ge=0, le=1000, description="how many ended calls to add"),
) -> JSONResponse:
    calls = gateway(request).calls
    call_id = call_id or query_param(request, "CallID")
    if call_id:
        return ok({"call": (await calls.get(session, call_id)).view()})
    raw_history = query_param(request, "History")
    if raw_history is not None and not history:
        if not raw_history.isdigit() or int(raw_history) > 1000:
            raise InvalidRequest("History must be a whole number from 0 to 1000")
        history = int(raw_history)
    return ok({"calls": [call.view() for call in await calls.list(session, history)]})


@router.post("/permission", summary="Send the user a call-permission request message")
async def request_permission(
    request: Request, body: PermissionRequest, session: SessionRow = Depends(session_auth)
) -> JSONResponse:
    phone, message_id = await gateway(request).calls.request_permission(session, body.phone, body.body)
    return ok({"details": "call permission request sent", "Phone": phone, "MessageID": message_id})


@router.get("/permission", summary="The user's call permission, as WhatsApp reports it")
async def permission(
    request: Request,
    session: SessionRow = Depends(session_auth),
    phone: str | None = Query(None, alias="Phone"),
) -> JSONResponse:
    phone = phone or query_param(request, "Phone")
    if not phone:
        raise InvalidRequest("missing Phone in query")
    return ok(await gateway(request).calls.permission(session, phone))
