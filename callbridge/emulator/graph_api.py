"""The Graph API subset the gateway uses, validated and answered the way Meta does."""

from __future__ import annotations

import re
import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from callbridge.emulator.model import EmulatorError, Number
from callbridge.emulator.sdp_rules import SdpRejected, check_business_sdp
from callbridge.emulator.world import World

router = APIRouter(include_in_schema=True, tags=["graph api"])
ACTIONS = ("connect", "pre_accept", "accept", "reject", "terminate")
_VERSION = re.compile(r"^v\d+\.\d+$")


def graph_error_response(exc: EmulatorError) -> JSONResponse:
    error: dict[str, Any] = {"message": exc.message, "type": "OAuthException", "code": exc.code}
    if exc.subcode is not None:
        error["error_subcode"] = exc.subcode
    if exc.details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": exc.details}
    error["fbtrace_id"] = secrets.token_urlsafe(12)
    return JSONResponse({"error": error}, status_code=exc.status)


def invalid(details: str) -> EmulatorError:
    return EmulatorError(400, 100, "(#100) Invalid parameter", details=details)


def _world(request: Request) -> World:
    return request.app.state.world


def _authorized_number(request: Request, version: str, phone_number_id: str) -> Number:
    if not _VERSION.match(version):
        raise EmulatorError(400, 2500, f"Unknown path components: /{version}/{phone_number_id}")
    number = _world(request).number(phone_number_id)
    header = request.headers.get("Authorization", "")
    if not header:
        raise EmulatorError(
            400, 2500, "An active access token must be used to query information about the current user."
        )
    if not secrets.compare_digest(header.encode(), f"Bearer {number.access_token}".encode()):
        raise EmulatorError(401, 190, "Invalid OAuth access token - Cannot parse access token")
    return number


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise invalid("the request body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise invalid("the request body must be a JSON object")
    if body.get("messaging_product") != "whatsapp":
        raise invalid("messaging_product must be 'whatsapp'")
    return body


def _sdp(body: dict[str, Any], sdp_type: str) -> str:
    session = body.get("session")
    if not isinstance(session, dict) or session.get("sdp_type") != sdp_type or not isinstance(session.get("sdp"), str):
        raise invalid(f"session must be {{'sdp_type': '{sdp_type}', 'sdp': '<SDP>'}}")
    try:
        check_business_sdp(session["sdp"], sdp_type)
    except SdpRejected as exc:
        raise EmulatorError(400, 100, "(#100) Invalid parameter", details=exc.details, subcode=exc.subcode) from exc
    return session["sdp"]


@router.get("/{version}/{phone_number_id}")
async def phone_number(request: Request, version: str, phone_number_id: str) -> JSONResponse:
    number = _authorized_number(request, version, phone_number_id)
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
    world = _world(request)
    record: dict[str, Any] = {"method": "POST", "path": request.url.path}
    world.requests.append(record)
    number = _authorized_number(request, version, phone_number_id)
    body = await _json_object(request)
    action = body.get("action")
    record["action"] = action
    if action not in ACTIONS:
        raise invalid(f"action must be one of {', '.join(ACTIONS)}")
    if action == "connect":
        to = body.get("to")
        if not isinstance(to, str) or not to.isdigit():
            raise invalid("to must be the user's phone number, digits only")
        offer = _sdp(body, "offer")
        call = await world.business_calls(number, to, offer)
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
        await (world.pre_accept if action == "pre_accept" else world.accept)(call, answer)
    elif action == "reject":
        await world.reject(call)
    else:
        await world.terminate(call)
    return JSONResponse({"messaging_product": "whatsapp", "success": True})


@router.post("/{version}/{phone_number_id}/messages")
async def messages(request: Request, version: str, phone_number_id: str) -> JSONResponse:
    number = _authorized_number(request, version, phone_number_id)
    body = await _json_object(request)
    to = body.get("to")
    interactive = body.get("interactive")
    if not isinstance(to, str) or not to.isdigit():
        raise invalid("to must be the user's phone number, digits only")
    if body.get("type") != "interactive" or not isinstance(interactive, dict):
        raise invalid("only interactive call_permission_request messages are emulated")
    if (
        interactive.get("type") != "call_permission_request"
        or (interactive.get("action") or {}).get("name") != "call_permission_request"
    ):
        raise invalid("interactive.type and interactive.action.name must be call_permission_request")
    if not isinstance((interactive.get("body") or {}).get("text"), str):
        raise invalid("interactive.body.text is required")
    message_id = await _world(request).request_permission(number, to)
    return JSONResponse(
        {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to}],
            "messages": [{"id": message_id}],
        }
    )


@router.get("/{version}/{phone_number_id}/call_permissions")
async def call_permissions(request: Request, version: str, phone_number_id: str) -> JSONResponse:
    number = _authorized_number(request, version, phone_number_id)
    wa_id = request.query_params.get("user_wa_id", "")
    if not wa_id.isdigit():
        raise invalid("user_wa_id must be the user's phone number, digits only")
    permission = _world(request).permission(number, wa_id)
    granted = permission.granted()
    state: dict[str, Any] = {"status": permission.status if granted else "no_permission"}
    if granted and permission.expires_at:
        state["expiration_time"] = permission.expires_at
    return JSONResponse(
        {
            "messaging_product": "whatsapp",
            "permission": state,
            "actions": [
                {
                    "action_name": "send_call_permission_request",
                    "can_perform_action": not granted,
                    "limits": [
                        {"time_period": "PT24H", "max_allowed": 1, "current_usage": 0},
                        {"time_period": "P7D", "max_allowed": 2, "current_usage": 0},
                    ],
                },
                {
                    "action_name": "start_call",
                    "can_perform_action": granted,
                    "limits": [
                        {"time_period": "PT24H", "max_allowed": 100, "current_usage": 0},
                    ],
                },
            ],
        }
    )
