"""Why a call ended, in words for the app: from WhatsApp's terminate webhook, with Meta's codes where it gave any."""

from __future__ import annotations

from callbridge.calls.model import Call, Direction, State
from callbridge.connectors.events import CallError, CallTerminated


def terminated_reason(call: Call, event: CallTerminated) -> str:
    if event.status == "REJECTED":
        return f"rejected by {call.phone}"
    if event.status == "FAILED":
        details = "; ".join(describe(e) for e in event.errors) or "WhatsApp gave no details"
        return f"WhatsApp reported the call failed: {details}"
    if call.state is State.ACTIVE:
        return f"hung up by {call.phone}"
    if call.direction is Direction.INCOMING:
        return f"{call.phone} hung up before the call was accepted"
    return f"not answered by {call.phone}"


def describe(error: CallError) -> str:
    """Meta's message with its code, which Meta's troubleshooting page explains."""
    if error.message and error.code is not None:
        return f"{error.message} (code {error.code})"
    return error.message or f"code {error.code}"
