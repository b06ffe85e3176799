"""Call permission requests and the permission state, as on Meta's "Obtain User Call Permissions" page."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from callbridge.emulator.errors import invalid
from callbridge.emulator.graph_common import calling_number, json_object, world_of

router = APIRouter()


@router.post("/{version}/{phone_number_id}/messages")
async def messages(request: Request, version: str, phone_number_id: str) -> JSONResponse:
    number = calling_number(request, version, phone_number_id)  # Meta lists "Calling not enabled" here too
    body = await json_object(request)
    to = body.get("to")
    interactive = body.get("interactive")
    if not isinstance(to, str) or not to.isdigit():
        raise invalid("to must be the user's phone number, digits only")
    if body.get("type") != "interactive" or not isinstance(interactive, dict):
        raise invalid("only interactive call_permission_request messages are emulated")
    action = interactive.get("action")
    if interactive.get("type") != "call_permission_request" or (
        not isinstance(action, dict) or action.get("name") != "call_permission_request"
    ):
        raise invalid("interactive.type and interactive.action.name must be call_permission_request")
    text_body = interactive.get("body")  # optional for a free-form request, Meta says (though recommended)
    if text_body is not None and (not isinstance(text_body, dict) or not isinstance(text_body.get("text"), str)):
        raise invalid("interactive.body, when given, must be {'text': '...'}")
    message_id = await world_of(request).request_permission(number, to)
    return JSONResponse(
        {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to}],
            "messages": [{"id": message_id}],
        }
    )


@router.get("/{version}/{phone_number_id}/call_permissions")
async def call_permissions(request: Request, version: str, phone_number_id: str) -> JSONResponse:
    number = calling_number(request, version, phone_number_id)  # "Calling is not enabled" is a listed error
    wa_id = request.query_params.get("user_wa_id", "")
    if not wa_id.isdigit():
        raise invalid("user_wa_id must be the user's phone number, digits only")
    return JSONResponse(world_of(request).pair(number, wa_id).state(time.time()))
