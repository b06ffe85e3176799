"""Meta's errors: the Graph API's error object for refused requests, and the ``errors`` items of terminate webhooks.

Codes, titles and HTTP statuses are those of Meta's "Troubleshoot WhatsApp Calling Errors - Reference Guide"
(developers.facebook.com/documentation/business-messaging/whatsapp/calling/troubleshooting, Dec 2025 and Jun 2026
versions agree). Where Meta lists an error without a code, the generic 100 "Invalid parameter" is used, and the
call site says so.
"""

from __future__ import annotations

from typing import Any

TROUBLESHOOTING = "https://developers.facebook.com/documentation/business-messaging/whatsapp/calling/troubleshooting"


class EmulatorError(Exception):
    """Answered the way the Graph API answers errors."""

    def __init__(self, status: int, code: int, message: str, details: str | None = None, subcode: int | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.details, self.subcode = status, code, message, details, subcode


def invalid(details: str, subcode: int | None = None) -> EmulatorError:
    # The message as Meta wrote it in a real 400 (StackOverflow q. 79767013); the table's title for code 100.
    return EmulatorError(400, 100, "Invalid parameter", details=details, subcode=subcode)


def calling_not_enabled() -> EmulatorError:
    return EmulatorError(
        401, 138000, "Calling not enabled", details="Calling APIs are not enabled for this phone number"
    )


def duplicate_call() -> EmulatorError:
    return EmulatorError(400, 138003, "Duplicate call", details="A call is already ongoing with the receiver")


def no_permission() -> EmulatorError:
    return EmulatorError(
        401,
        138006,
        "No approved call permission found",
        details="No approved call permission from the recipient",
    )


def permission_request_limit(until: int) -> EmulatorError:
    return EmulatorError(
        400,
        138009,
        "Call Permission Request Limit Hit",
        details="Limit reached for call permission request sends for the given business and consumer pair; "
        f"the next request is allowed at {until}",
    )


def business_call_limit(until: int) -> EmulatorError:
    # Meta: "Details will include a timestamp when the next call is allowed."
    return EmulatorError(
        400,
        138012,
        "Business Initiated Calls Limit Hit",
        details=f"Limit reached for connected business initiated calls in 24 hours; next call allowed at {until}",
    )


def permanent_permission_exists() -> EmulatorError:
    return EmulatorError(
        400,
        138017,
        "Call permission request can't be sent because a permanent permission already exists.",
        details="A permanent permission has already been approved by the user for this business phone number",
    )


def sip_enabled() -> EmulatorError:
    return EmulatorError(
        400, 131055, "Method not allowed", details="Graph API calls are not allowed for SIP enabled numbers"
    )


def graph_error_body(exc: EmulatorError, trace_id: str) -> dict[str, Any]:
    """Meta's error object ("Standard error response" on the troubleshooting page, plus error_data as sent)."""
    error: dict[str, Any] = {"message": exc.message, "type": "OAuthException", "code": exc.code}
    if exc.subcode is not None:
        error["error_subcode"] = exc.subcode
    if exc.details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": exc.details}
    error["fbtrace_id"] = trace_id
    return {"error": error}


def webhook_error(code: int, message: str, details: str) -> dict[str, Any]:
    """One item of a terminate webhook's ``errors`` (user- and business-initiated calls pages). Meta's samples
    show the href only as ERROR_HREF; the troubleshooting page, where calling codes are listed, stands in."""
    return {"code": code, "message": message, "href": TROUBLESHOOTING, "error_data": {"details": details}}


def media_receive_timeout(seconds: float) -> dict[str, Any]:
    # 138021: "The WhatsApp client terminated the call due to not receiving any media for a long time."
    return webhook_error(138021, "Media receive timeout", f"No media received from the business for {seconds:g}s")
