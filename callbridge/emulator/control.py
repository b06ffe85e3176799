"""``/emulator/*``: the control API that tests and demos use to set the scene and see what users heard."""

from __future__ import annotations

import re
from typing import Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, field_validator

from callbridge.emulator.model import EmuCall, Number, User
from callbridge.emulator.world import World

router = APIRouter(prefix="/emulator", tags=["emulator control"])
_SAY = re.compile(r"^(tone:\d+(\.\d+)?|echo|silence|markers|file:[\w.-]+)$")


class NumberIn(BaseModel):
    phone_number_id: str = Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_.-]+$")
    display_phone_number: str = Field(min_length=1, max_length=32)
    access_token: str = Field(min_length=1)
    app_secret: str = Field(min_length=1)
    verify_token: str = Field(min_length=1)
    webhook_url: str = Field(pattern=r"^https?://")
    waba_id: str = "100000000000001"
    scramble_webhooks: bool = Field(False, description="send each call's webhooks reversed and twice")


class UserIn(BaseModel):
    wa_id: str = Field(pattern=r"^\d{6,20}$")
    name: str = "Virtual User"
    answer_after_ms: int = Field(500, ge=0, le=600_000)
    say: str = Field(
        "tone:440",
        description="tone:HZ | echo | silence | file:NAME (in the emulator's files dir) | markers (benchmarks)",
    )
    hangup_after_ms: int | None = Field(None, ge=0)
    reject: bool = False
    no_answer: bool = False
    grant_permission: bool = True
    permission: Literal["no_permission", "temporary", "permanent"] | None = Field(
        None, description="initial permission; by default temporary when grant_permission, else none"
    )
    loss: float = Field(
        0.0, ge=0.0, le=0.5, description="share of the packets this user sends that are lost on the way to the business"
    )

    @field_validator("say")
    @classmethod
    def _say(cls, value: str) -> str:
        if not _SAY.match(value):
            raise ValueError("say must be tone:HZ, echo, silence, markers or file:NAME")
        return value


class UserCallIn(BaseModel):
    to: str = Field(description="the business's phone_number_id")


def _world(request: Request) -> World:
    return request.app.state.world


def _call(request: Request, call_id: str) -> EmuCall:
    call = _world(request).calls.get(call_id)
    if call is None:
        raise HTTPException(404, f"no call {call_id}")
    return call


@router.post("/numbers")
async def add_number(request: Request, body: NumberIn) -> JSONResponse:
    _world(request).add_number(Number(**body.model_dump()))
    return JSONResponse({"phone_number_id": body.phone_number_id})


@router.post("/users")
async def add_user(request: Request, body: UserIn) -> JSONResponse:
    world = _world(request)
    if body.say.startswith("file:") and not (world.files_dir / body.say[5:]).is_file():
        raise HTTPException(400, f"no file {body.say[5:]!r} in the emulator's files dir")
    fields = body.model_dump(exclude={"permission"})
    world.add_user(User(**fields), body.permission)
    return JSONResponse({"wa_id": body.wa_id})


@router.post("/users/{wa_id}/call")
async def user_calls(request: Request, wa_id: str, body: UserCallIn) -> JSONResponse:
    world = _world(request)
    if wa_id not in world.users:
        raise HTTPException(404, f"no virtual user {wa_id}")
    if body.to not in world.numbers:
        raise HTTPException(404, f"no business number {body.to}")
    call = await world.user_calls(wa_id, body.to)
    return JSONResponse({"call_id": call.id})


@router.get("/calls")
async def list_calls(request: Request) -> JSONResponse:
    return JSONResponse({"calls": [call.view() for call in _world(request).calls.values()]})


@router.get("/calls/{call_id}")
async def get_call(
    request: Request, call_id: str, last: float | None = Query(None, gt=0, description="analyse only the last N s")
) -> JSONResponse:
    call = _call(request, call_id)
    return JSONResponse(call.view(last))


@router.get("/calls/{call_id}/heard.wav")
async def heard_wav(request: Request, call_id: str) -> Response:
    call = _call(request, call_id)
    return Response(call.peer.ear.wav(), media_type="audio/wav")


@router.get("/calls/{call_id}/markers")
async def markers(request: Request, call_id: str) -> JSONResponse:
    """For benchmarks: when this user's markers left, and when the business's markers arrived (monotonic clock)."""
    call = _call(request, call_id)
    return JSONResponse(call.peer.markers())


@router.get("/calls/{call_id}/sdp")
async def business_sdp(request: Request, call_id: str) -> JSONResponse:
    """Every SDP the business sent for this call, with the Graph action that carried it."""
    call = _call(request, call_id)
    return JSONResponse({"sdps": call.business_sdps})


@router.post("/calls/{call_id}/hangup")
async def hangup(request: Request, call_id: str) -> JSONResponse:
    world = _world(request)
    call = _call(request, call_id)
    await world.hangup(call)
    return JSONResponse({"state": call.state})


@router.post("/calls/{call_id}/vanish")
async def vanish(request: Request, call_id: str) -> JSONResponse:
    """The user's network disappears mid-call: no terminate webhook, media just stops."""
    world = _world(request)
    call = _call(request, call_id)
    await world.vanish(call)
    return JSONResponse({"state": call.state})


@router.get("/requests")
async def requests(request: Request) -> JSONResponse:
    """The Graph API calls requests received, in order."""
    return JSONResponse({"requests": _world(request).requests})


@router.get("/webhooks")
async def webhooks(request: Request) -> JSONResponse:
    """Every webhook payload sent to businesses, in order of sending."""
    return JSONResponse({"webhooks": _world(request).webhooks.sent})
