"""Meta's documented webhook payloads, read by the Cloud connector.

Sources (transcribed, ids and numbers replaced):
- Meta, "Webhooks reference: messages → errors" (developers.facebook.com/documentation/business-messaging/whatsapp/
  webhooks/reference/messages/errors): the `errors[]` object, `code`, `title`, `message`, `error_data.details`, `href`.
- Meta, WhatsApp Cloud API Calling, "Business-initiated calls" / "User-initiated calls": the call terminate webhook,
  whose failed calls list their errors at `value.errors`, beside `calls` (shared/reference, corrections section).
- Meta, WhatsApp Cloud API Calling, "User call permissions": the `call_permission_reply` interactive message with
  `response`, `is_permanent`, `expiration_timestamp`, `response_source`, and `context.id` of the request.
"""

from __future__ import annotations

from typing import Any

from callbridge.connectors.cloud.intake import parse
from callbridge.connectors.events import CallError, CallTerminated, PermissionReply

PNID = "106540352242922"


def delivery(field: str, value: dict[str, Any]) -> dict[str, Any]:
    metadata = {"display_phone_number": "15550783881", "phone_number_id": PNID}
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {"field": field, "value": {"messaging_product": "whatsapp", "metadata": metadata, **value}}
                ],
            }
        ],
    }


def test_a_failed_calls_errors_beside_the_calls_are_read() -> None:
    payload = delivery(
        "calls",
        {
            "calls": [
                {
                    "id": "wacid.ABGGFjFVU2AfAgo6V",
                    "to": "16315553601",
                    "from": "13175551399",
                    "event": "terminate",
                    "direction": "BUSINESS_INITIATED",
                    "timestamp": "1671644824",
                    "status": "FAILED",
                }
            ],
            "errors": [
                {
                    "code": 138021,
                    "title": "Media receive timeout",
                    "message": "Media receive timeout",
                    "error_data": {"details": "No media was received from the business"},
                    "href": "/documentation/business-messaging/whatsapp/calling/troubleshooting",
                }
            ],
        },
    )
    [event] = parse(payload, PNID)
    assert isinstance(event, CallTerminated) and event.status == "FAILED"
    assert event.errors == (CallError(138021, "Media receive timeout"),)


def test_errors_repeated_inside_the_call_object_count_once() -> None:
    error = {"code": 138021, "title": "Media receive timeout", "message": "Media receive timeout"}
    call = {"id": "wacid.X", "event": "terminate", "status": "FAILED", "errors": [error, {"code": "junk"}]}
    [event] = parse(delivery("calls", {"calls": [call], "errors": [error]}), PNID)
    assert isinstance(event, CallTerminated) and event.errors == (CallError(138021, "Media receive timeout"),)


def test_a_permission_reply_keeps_its_meaning() -> None:
    payload = delivery(
        "messages",
        {
            "contacts": [{"profile": {"name": "Pablo Morales"}, "wa_id": "16315551181"}],
            "messages": [
                {
                    "context": {
                        "from": "15550783881",
                        "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA",
                    },
                    "from": "16315551181",
                    "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGCAyNzIzMDY1OTc5RjdFNEE1OEI2MUEyMjlDN0Q3NTVBMQA=",
                    "timestamp": "1671644824",
                    "type": "interactive",
                    "interactive": {
                        "type": "call_permission_reply",
                        "call_permission_reply": {
                            "response": "accept",
                            "is_permanent": False,
                            "expiration_timestamp": 1671648424,
                            "response_source": "user_action",
                        },
                    },
                }
            ],
        },
    )
    assert parse(payload, PNID) == [
        PermissionReply(
            "16315551181",
            "accept",
            expires_at=1671648424,
            is_permanent=False,
            source="user_action",
            context_id="wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA",
        )
    ]


def test_another_numbers_events_are_not_ours() -> None:
    payload = delivery("calls", {"calls": [{"id": "wacid.Y", "event": "terminate", "status": "COMPLETED"}]})
    assert parse(payload, "some-other-number") == []
