"""/call/*: place, answer, reject and end WhatsApp calls; ask for call permission."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from callbridge.api.auth import Session
from callbridge.api.deps import CallIDQuery, Calls, ConnectorsDep, PermissionsDep, PhoneQuery, query_param
from callbridge.api.envelope import ok
from callbridge.api.models import (
    AcceptCallRequest,
    CallIDRequest,
    CallingSettingsRequest,
    MakeCallRequest,
    PermissionRequest,
)
from callbridge.api.openapi import Envelope, errors
from callbridge.api.schemas import CallOrCalls, OneCall, PermissionSent
from callbridge.errors import InvalidRequest
from callbridge.events.views import call_view

router = APIRouter(prefix="/call", tags=["calls"])


@router.post(
    "/make",
    summary="Call a WhatsApp user (needs their call permission)",
    response_model=Envelope[OneCall],
    responses=errors(400, 401, 403, 408, 409, 413, 429, 500),
)
async def make(body: MakeCallRequest, session: Session, calls: Calls) -> JSONResponse:
    call = await calls.make(session, body.phone, body.callback_data)
    return ok({"call": call_view(call.snapshot())})


@router.post(
    "/accept",
    summary="Accept a ringing incoming call",
    response_model=Envelope[OneCall],
    responses=errors(400, 401, 404, 408, 409, 413, 429, 500),
)
async def accept(body: AcceptCallRequest, session: Session, calls: Calls) -> JSONResponse:
    call = await calls.accept(session, body.call_id, body.callback_data)
    return ok({"call": call_view(call.snapshot())})


@router.post(
    "/reject",
    summary="Reject a ringing incoming call",
    response_model=Envelope[OneCall],
    responses=errors(400, 401, 404, 408, 409, 413, 429, 500),
)
async def reject(body: CallIDRequest, session: Session, calls: Calls) -> JSONResponse:
    call = await calls.reject(session, body.call_id)
    return ok({"call": call_view(call.snapshot())})


@router.post(
    "/end",
    summary="End a live call (tells WhatsApp to terminate it)",
    response_model=Envelope[OneCall],
    responses=errors(400, 401, 404, 408, 409, 413),
)
async def end(body: CallIDRequest, session: Session, calls: Calls) -> JSONResponse:
    call = await calls.end(session, body.call_id)
    return ok({"call": call_view(call.snapshot())})


@router.get(
    "/status",
    summary="One call (?CallID=) or the live calls; ?History=N adds the N most recent ended calls",
    response_model=Envelope[CallOrCalls],
    responses=errors(400, 401, 404),
)
async def status(
    request: Request,
    session: Session,
    calls: Calls,
    call_id: CallIDQuery,
    history: int = Query(0, alias="History", ge=0, le=1000, description="how many ended calls to add"),
) -> JSONResponse:
    if call_id:
        return ok({"call": call_view((await calls.get(session, call_id)).snapshot())})
    raw_history = query_param(request, "History")
    if raw_history is not None and not history:
        if not raw_history.isdigit() or int(raw_history) > 1000:
            raise InvalidRequest("History must be a whole number from 0 to 1000")
        history = int(raw_history)
    return ok({"calls": [call_view(call.snapshot()) for call in await calls.list(session, history)]})


@router.post(
    "/permission",
    summary="Send the user a call-permission request message",
    response_model=Envelope[PermissionSent],
    responses=errors(400, 401, 408, 413, 429, 500),
)
async def request_permission(body: PermissionRequest, session: Session, permissions: PermissionsDep) -> JSONResponse:
    phone, message_id = await permissions.request(session, body.phone, body.body)
    return ok({"details": "call permission request sent", "Phone": phone, "MessageID": message_id})


@router.get(
    "/permission",
    summary="The user's call permission, as WhatsApp reports it",
    response_model=Envelope[dict[str, Any]],
    responses=errors(400, 401, 429, 500),
)
async def permission(session: Session, permissions: PermissionsDep, phone: PhoneQuery) -> JSONResponse:
    return ok(await permissions.status(session, phone))


def _settings_view(calling: dict[str, Any]) -> dict[str, Any]:
    """Meta's calling settings, the common ones in WaGo's casing; ``calling`` keeps Meta's whole object."""
    return {
        "Status": calling.get("status"),
        "CallIconVisibility": calling.get("call_icon_visibility"),
        "CallbackPermissionStatus": calling.get("callback_permission_status"),
        "CallHours": calling.get("call_hours"),
        "calling": calling,
    }


@router.get(
    "/settings",
    summary="The number's calling settings, as WhatsApp reports them",
    response_model=Envelope[dict[str, Any]],
    responses=errors(401, 429, 500),
)
async def settings(session: Session, connectors: ConnectorsDep) -> JSONResponse:
    return ok(_settings_view(await connectors.for_session(session).calling_settings()))


@router.post(
    "/settings",
    summary="Change the number's calling settings (only the fields given); answers them all",
    response_model=Envelope[dict[str, Any]],
    responses=errors(400, 401, 408, 413, 429, 500),
)
async def change_settings(body: CallingSettingsRequest, session: Session, connectors: ConnectorsDep) -> JSONResponse:
    calling = body.calling()
    if not calling:
        raise InvalidRequest(
            "nothing to change: give Status, CallIconVisibility, CallbackPermissionStatus or CallHours"
        )
    return ok(_settings_view(await connectors.for_session(session).update_calling_settings(calling)))
