"""``/emulator/users/{wa_id}/call`` and ``/emulator/calls/*``: what users do in calls, and what they heard."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from callbridge.emulator.control_http import ControlError, body_schema, read_body
from callbridge.emulator.dtmf import MAX_DURATION_MS
from callbridge.emulator.model import EmuCall
from callbridge.emulator.world import Refused, World

router = APIRouter()


class UserCallIn(BaseModel):
    to: str = Field(description="the business's phone_number_id")


class DtmfIn(BaseModel):
    digits: str = Field(pattern=r"^[0-9*#A-Da-d]{1,64}$", description="the keys, in order")
    duration_ms: int = Field(160, ge=20, le=MAX_DURATION_MS, description="how long each key is held")


def _world(request: Request) -> World:
    world: World = request.app.state.world
    return world


def _call(request: Request, call_id: str) -> EmuCall:
    call = _world(request).calls.get(call_id)
    if call is None:
        raise ControlError(404, f"no call {call_id}")
    return call


@router.post("/users/{wa_id}/call", openapi_extra=body_schema(UserCallIn))
async def user_calls(request: Request, wa_id: str) -> JSONResponse:
    body = await read_body(request, UserCallIn)
    world = _world(request)
    if wa_id not in world.users:
        raise ControlError(404, f"no virtual user {wa_id}")
    if body.to not in world.numbers:
        raise ControlError(404, f"no business number {body.to}")
    try:
        call = await world.user_calls(wa_id, body.to)
    except Refused as exc:
        raise ControlError(409, f"the user cannot call: {exc}") from exc
    return JSONResponse({"call_id": call.id})


@router.get("/calls")
async def list_calls(request: Request) -> JSONResponse:
    return JSONResponse({"calls": [call.view() for call in _world(request).calls.values()]})


@router.get("/calls/{call_id}")
async def get_call(
    request: Request, call_id: str, last: float | None = Query(None, gt=0, description="analyse only the last N s")
) -> JSONResponse:
    return JSONResponse(_call(request, call_id).view(last))


@router.get("/calls/{call_id}/heard.wav")
async def heard_wav(request: Request, call_id: str) -> Response:
    return Response(_call(request, call_id).peer.ear.wav(), media_type="audio/wav")


@router.get("/calls/{call_id}/markers")
async def markers(request: Request, call_id: str) -> JSONResponse:
    """For benchmarks: when this user's markers left, and when the business's markers arrived (monotonic clock)."""
    return JSONResponse(_call(request, call_id).peer.markers())


@router.get("/calls/{call_id}/sdp")
async def business_sdp(request: Request, call_id: str) -> JSONResponse:
    """Every SDP the business sent for this call, with the Graph action that carried it."""
    return JSONResponse({"sdps": _call(request, call_id).business_sdps})


@router.post("/calls/{call_id}/hangup")
async def hangup(request: Request, call_id: str) -> JSONResponse:
    call = _call(request, call_id)
    await _world(request).hangup(call)
    return JSONResponse({"state": call.state})


@router.post("/calls/{call_id}/vanish")
async def vanish(request: Request, call_id: str) -> JSONResponse:
    """The user's network disappears mid-call: no terminate webhook, media just stops."""
    call = _call(request, call_id)
    await _world(request).vanish(call)
    return JSONResponse({"state": call.state})


@router.post("/calls/{call_id}/dtmf", openapi_extra=body_schema(DtmfIn))
async def dtmf(request: Request, call_id: str) -> JSONResponse:
    """The user presses keys: RFC 4733 events on the payload type the call's SDP agreed for telephone-event."""
    body = await read_body(request, DtmfIn)
    call = _call(request, call_id)
    if call.state != "active":
        raise ControlError(409, f"the call is {call.state}: keys can be pressed in an active call only")
    keypad = call.peer.keypad
    if keypad.payload_type is None:
        raise ControlError(
            409, "the call's SDP answer has no telephone-event/8000 payload type, so the user cannot send DTMF"
        )
    keypad.press(body.digits, body.duration_ms)
    return JSONResponse({"state": call.state, "payload_type": keypad.payload_type, "queued": body.digits.upper()})
