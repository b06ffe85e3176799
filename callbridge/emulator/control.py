"""``/emulator/*``: the control API that tests and demos use to set the scene and see what users heard.

Bodies are JSON whatever their content type; errors are ``{"error": "..."}`` (control_http.py)."""

from __future__ import annotations

import re
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator

from callbridge.emulator import control_calls
from callbridge.emulator.calling_settings import CallingSettings
from callbridge.emulator.control_http import ControlError, body_schema, read_body
from callbridge.emulator.errors import EmulatorError
from callbridge.emulator.model import Number, User
from callbridge.emulator.world import World

router = APIRouter(prefix="/emulator", tags=["emulator control"])
_SAY = re.compile(r"^(tone:\d+(\.\d+)?|echo|silence|markers|file:[\w.-]+|dtmf:[0-9*#A-Da-d]{1,32})$")


class NumberIn(BaseModel):
    phone_number_id: str = Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_.-]+$")
    display_phone_number: str = Field(min_length=1, max_length=32)
    access_token: str = Field(min_length=1)
    app_secret: str = Field(min_length=1)
    verify_token: str = Field(min_length=1)
    webhook_url: str = Field(pattern=r"^https?://")
    waba_id: str = "100000000000001"
    scramble_webhooks: bool = Field(False, description="send each call's webhooks reversed and twice")
    calling: dict[str, Any] | None = Field(
        None,
        description="Meta's calling settings object, as POSTed to /{phone-number-id}/settings; "
        "calling is ENABLED unless this says otherwise",
    )


class UserIn(BaseModel):
    wa_id: str = Field(pattern=r"^\d{6,20}$")
    name: str = "Virtual User"
    answer_after_ms: int = Field(500, ge=0, le=600_000)
    say: str = Field(
        "tone:440",
        description="tone:HZ | echo | silence | file:NAME (in the emulator's files dir) | markers (benchmarks) | "
        "dtmf:KEYS (presses the keys on answering, then silence)",
    )
    hangup_after_ms: int | None = Field(None, ge=0)
    reject: bool = False
    no_answer: bool = False
    grant_permission: bool = True
    grants: Literal["temporary", "permanent"] = Field(
        "temporary", description="what the user grants when asked for permission (with grant_permission)"
    )
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
            raise ValueError("say must be tone:HZ, echo, silence, markers, file:NAME or dtmf:KEYS")
        return value


def _world(request: Request) -> World:
    world: World = request.app.state.world
    return world


@router.post("/numbers", openapi_extra=body_schema(NumberIn))
async def add_number(request: Request) -> JSONResponse:
    body = await read_body(request, NumberIn)
    calling = CallingSettings()
    if body.calling is not None:
        try:
            calling.update(body.calling)
        except EmulatorError as exc:
            raise ControlError(400, f"calling: {exc.details or exc.message}") from exc
    _world(request).add_number(Number(**body.model_dump(exclude={"calling"}), calling=calling))
    return JSONResponse({"phone_number_id": body.phone_number_id})


@router.post("/users", openapi_extra=body_schema(UserIn))
async def add_user(request: Request) -> JSONResponse:
    body = await read_body(request, UserIn)
    world = _world(request)
    if body.say.startswith("file:") and not (world.files_dir / body.say[5:]).is_file():
        raise ControlError(400, f"no file {body.say[5:]!r} in the emulator's files dir")
    world.add_user(User(**body.model_dump(exclude={"permission"})), body.permission)
    return JSONResponse({"wa_id": body.wa_id})


@router.get("/requests")
async def requests(request: Request) -> JSONResponse:
    """The Graph API calls requests received, in order."""
    return JSONResponse({"requests": _world(request).requests})


@router.get("/webhooks")
async def webhooks(request: Request) -> JSONResponse:
    """Every webhook payload sent to businesses, in order of sending."""
    return JSONResponse({"webhooks": _world(request).webhooks.sent})


router.include_router(control_calls.router)


@router.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def unknown(path: str) -> JSONResponse:
    """Last: an unknown control path is a control 404, not a Graph API path (``/{version}/{id}``)."""
    raise ControlError(404, f"no control route /emulator/{path}")
