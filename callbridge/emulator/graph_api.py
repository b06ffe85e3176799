"""The Graph API subset the gateway uses, validated and answered the way Meta does: the number's profile and
``/calls`` (Meta's "User-initiated calls" and "Business-Initiated Calls" pages); permissions and settings have
their own modules, whose routes this router includes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from callbridge.emulator import graph_permissions, graph_settings
from callbridge.emulator.errors import invalid, sip_enabled
from callbridge.emulator.graph_common import authorized_number, json_object, world_of
from callbridge.emulator.sdp_rules import SdpRejected, check_business_sdp

router = APIRouter(include_in_schema=True, tags=["graph api"])
ACTIONS = ("connect", "pre_accept", "accept", "reject", "terminate")
CALLBACK_DATA_MAX = 512  # Meta: biz_opaque_callback_data, "Maximum 512 characters"


def _sdp(body: dict[str, Any], sdp_type: str) -> str:
    session = body.get("session")
    if not isinstance(session, dict) or session.get("sdp_type") != sdp_type or not isinstance(session.get("sdp"), str):
        raise invalid(f"session must be {{'sdp_type': '{sdp_type}', 'sdp': '<SDP>'}}")
    try:
        check_business_sdp(session["sdp"], sdp_type)
    except SdpRejected as exc:
        raise invalid(exc.details, exc.subcode) from exc
    return session["sdp"]


def _callback_data(body: dict[str, Any]) -> str | None:
    data = body.get("biz_opaque_callback_data")
    if data is not None and (not isinstance(data, str) or len(data) > CALLBACK_DATA_MAX):
        raise invalid(f"biz_opaque_callback_data must be a string of at most {CALLBACK_DATA_MAX} characters")
    return data


@router.get("/{version}/{phone_number_id}")
async def phone_number(request: Request, version: str, phone_number_id: str) -> JSONResponse:
    number = authorized_number(request, version, phone_number_id)
    return JSONResponse(
        {
            "verified_name": "Emulated Business",
            "display_phone_number": number.display_phone_number,
            "id": number.phone_number_id,
            "quality_rating": "GREEN",
        }
    )


@router.post("/{version}/{phone_number_id}/calls")
async def calls(request: Request, version: str, phone_number_id: str) -> JSONResponse:
    world = world_of(request)
    record: dict[str, Any] = {"method": "POST", "path": request.url.path}
    world.requests.append(record)
    number = authorized_number(request, version, phone_number_id)
    if number.calling.sip_enabled:
        raise sip_enabled()  # Meta's settings page: with SIP on, "you cannot use calling related endpoints"
    body = await json_object(request)
    action = body.get("action")
    record["action"] = action
    if action not in ACTIONS:
        raise invalid(f"action must be one of {', '.join(ACTIONS)}")
    if action == "connect":
        to = body.get("to")
        if not isinstance(to, str) or not to.isdigit():
            raise invalid("to must be the user's phone number, digits only")
        offer = _sdp(body, "offer")
        call = await world.business_calls(number, to, offer, _callback_data(body))
        call.business_sdps.append({"action": "connect", "sdp": offer})
        record["call_id"] = call.id
        return JSONResponse({"messaging_product": "whatsapp", "calls": [{"id": call.id}]})

    call_id = body.get("call_id")
    if not isinstance(call_id, str):
        raise invalid("call_id is required")
    record["call_id"] = call_id
    call = world.call(number, call_id)
    if action in ("pre_accept", "accept"):
        answer = _sdp(body, "answer")
        call.business_sdps.append({"action": action, "sdp": answer})
        if action == "pre_accept":
            await world.pre_accept(call, answer)
        else:
            await world.accept(call, answer, _callback_data(body))
    elif action == "reject":
        await world.reject(call)
    else:
        await world.terminate(call)
    return JSONResponse({"messaging_product": "whatsapp", "success": True})


router.include_router(graph_permissions.router)
router.include_router(graph_settings.router)
