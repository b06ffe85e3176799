"""What a connector reports about calls and permissions, whatever the way into WhatsApp."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CallError:
    """An error WhatsApp attached to a failed call."""

    code: int | None
    message: str | None


@dataclass(frozen=True)
class IncomingCall:
    call_id: str
    phone: str
    offer_sdp: str
    name: str | None = None


@dataclass(frozen=True)
class CallAnswered:
    """The WhatsApp side's SDP answer to a call we placed."""

    call_id: str
    answer_sdp: str


@dataclass(frozen=True)
class CallProgress:
    """RINGING, ACCEPTED or REJECTED for a call we placed."""

    call_id: str
    status: str


@dataclass(frozen=True)
class CallTerminated:
    call_id: str
    status: str  # COMPLETED, FAILED, REJECTED
    duration: float | None = None
    errors: tuple[CallError, ...] = ()


@dataclass(frozen=True)
class PermissionReply:
    phone: str
    response: str  # accept | reject
    expires_at: int | None = None  # Unix seconds, for a temporary permission
    is_permanent: bool | None = None
    source: str | None = None  # user_action, or automatic (a user-initiated call grants a temporary permission)
    context_id: str | None = None  # the request message this answers


ConnectorEvent = IncomingCall | CallAnswered | CallProgress | CallTerminated | PermissionReply
CallUpdate = CallAnswered | CallProgress | CallTerminated  # news of a call already known
CallNews = IncomingCall | CallUpdate  # what the call state machine takes
