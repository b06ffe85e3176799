"""Meta's webhook payloads: the ``value`` objects of call and message webhooks, and the envelope around them.

Each builder returns one ``value``: what Meta puts in ``entry[].changes[].value`` next to its metadata. Shapes
from Meta's "User-initiated calls", "Business-Initiated Calls" and "Obtain User Call Permissions" pages.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from callbridge.emulator.model import EmuCall, Number, User
from callbridge.emulator.permissions import Permission


def envelope(number: Number, field: str, value: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": number.waba_id,
                "changes": [
                    {
                        "field": field,
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": number.display_phone_number,
                                "phone_number_id": number.phone_number_id,
                            },
                            **value,
                        },
                    }
                ],
            }
        ],
    }


def call_header(call: EmuCall, event: str) -> dict[str, Any]:
    header = {
        "id": call.id,
        "from": call.caller,
        "to": call.callee,
        "event": event,
        "timestamp": _now(),
        "direction": call.direction,
    }
    return _with_callback_data(call, header)


def _with_callback_data(call: EmuCall, item: dict[str, Any]) -> dict[str, Any]:
    # Meta echoes biz_opaque_callback_data "only if provided" on connect or accept.
    return {**item, "biz_opaque_callback_data": call.callback_data} if call.callback_data is not None else item


def connect_value(call: EmuCall, sdp_type: str, sdp: str) -> dict[str, Any]:
    """The user's offer to the business, or the user's answer to the business's offer. Both name the user in
    ``contacts``: with the profile name on the user's own call, the wa_id alone on the business's."""
    connect = {**call_header(call, "connect"), "session": {"sdp_type": sdp_type, "sdp": sdp}}
    contact = _contact(call.user) if call.direction == "USER_INITIATED" else {"wa_id": call.user.wa_id}
    return {"contacts": [contact], "calls": [connect]}


def terminate_value(call: EmuCall, status: str, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The end of a call, COMPLETED or FAILED (the only statuses Meta documents); an answered call also says when
    it started and ended, and how long it lasted. A failure's errors are in ``value.errors``, and repeated in the
    call object as real deliveries do."""
    terminate: dict[str, Any] = {**call_header(call, "terminate"), "status": status}
    if call.accepted_at is not None and call.ended_at is not None:
        terminate.update(
            start_time=str(int(call.accepted_at)),
            end_time=str(int(call.ended_at)),
            duration=round(call.ended_at - call.accepted_at),
        )
    if errors:
        terminate["errors"] = errors
        return {"calls": [terminate], "errors": errors}
    return {"calls": [terminate]}


def status_value(call: EmuCall, status: str) -> dict[str, Any]:
    """How a business's call is doing at the user's end: RINGING, ACCEPTED or REJECTED."""
    status_item = {
        "id": call.id,
        "timestamp": _now(),
        "type": "call",
        "status": status,
        "recipient_id": call.user.wa_id,
    }
    return {"statuses": [_with_callback_data(call, status_item)]}


def permission_reply(granted: Permission | None, source: str = "user_action") -> dict[str, Any]:
    """``call_permission_reply`` as in Meta's samples: an acceptance says whether it is permanent and, when
    temporary, when it expires; a refusal says neither."""
    if granted is None:
        return {"response": "reject", "response_source": source}
    reply: dict[str, Any] = {"response": "accept", "is_permanent": granted.status == "permanent"}
    if granted.expires_at is not None:
        reply["expiration_timestamp"] = str(granted.expires_at)  # a string in Meta's samples
    return {**reply, "response_source": source}


def permission_reply_value(user: User, reply: dict[str, Any], context_id: str | None) -> dict[str, Any]:
    """The user's reply, on the messages webhook. ``context_id`` is the request message's id, or the user's call
    id for an automatic callback permission; a revocation has no context."""
    message: dict[str, Any] = {"from": user.wa_id, "id": "wamid." + secrets.token_hex(12), "timestamp": _now()}
    if context_id is not None:
        message["context"] = {"from": user.wa_id, "id": context_id}
    message["type"] = "interactive"
    message["interactive"] = {"type": "call_permission_reply", "call_permission_reply": reply}
    return {"contacts": [_contact(user)], "messages": [message]}


def _contact(user: User) -> dict[str, Any]:
    return {"profile": {"name": user.name}, "wa_id": user.wa_id}


def _now() -> str:
    return str(int(time.time()))
