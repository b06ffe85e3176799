"""Meta's webhook payloads: the ``value`` objects of call and message webhooks, and the envelope around them.

Each builder returns one ``value``: what Meta puts in ``entry[].changes[].value`` next to its metadata.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from callbridge.emulator.model import EmuCall, Number, Permission, User


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
    return {
        "id": call.id,
        "from": call.caller,
        "to": call.callee,
        "event": event,
        "timestamp": _now(),
        "direction": call.direction,
    }


def connect_value(call: EmuCall, sdp_type: str, sdp: str) -> dict[str, Any]:
    """The user's offer to the business, or the user's answer to the business's offer."""
    connect = {**call_header(call, "connect"), "session": {"sdp_type": sdp_type, "sdp": sdp}}
    if call.direction == "USER_INITIATED":  # only a user's own call introduces the user
        return {"contacts": [_contact(call.user)], "calls": [connect]}
    return {"calls": [connect]}


def terminate_value(call: EmuCall, status: str, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The end of a call; an answered call also says when it started and ended, and how long it lasted."""
    terminate: dict[str, Any] = {**call_header(call, "terminate"), "status": status}
    if call.accepted_at is not None and call.ended_at is not None:
        terminate.update(
            start_time=str(int(call.accepted_at)),
            end_time=str(int(call.ended_at)),
            duration=round(call.ended_at - call.accepted_at),
        )
    if errors:
        terminate["errors"] = errors
    return {"calls": [terminate]}


def status_value(call: EmuCall, status: str) -> dict[str, Any]:
    """How a business's call is doing at the user's end: RINGING, ACCEPTED or REJECTED."""
    return {
        "statuses": [
            {
                "id": call.id,
                "timestamp": _now(),
                "type": "call",
                "status": status,
                "recipient_id": call.user.wa_id,
            }
        ]
    }


def permission_reply_value(user: User, granted: Permission | None) -> dict[str, Any]:
    """The user's reply to a call permission request: accepted with the permission's expiry, or rejected."""
    reply: dict[str, Any] = {"response": "reject", "response_source": "user_action"}
    if granted is not None:
        reply = {"response": "accept", "expiration_timestamp": granted.expires_at, "response_source": "user_action"}
    return {
        "contacts": [_contact(user)],
        "messages": [
            {
                "from": user.wa_id,
                "id": "wamid." + secrets.token_hex(12),
                "timestamp": _now(),
                "type": "interactive",
                "interactive": {"type": "call_permission_reply", "call_permission_reply": reply},
            }
        ],
    }


def _contact(user: User) -> dict[str, Any]:
    return {"profile": {"name": user.name}, "wa_id": user.wa_id}


def _now() -> str:
    return str(int(time.time()))
