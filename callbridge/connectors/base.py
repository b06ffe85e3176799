"""What the call layer needs from a way into WhatsApp. A connector signals calls and hands back the
WhatsApp leg (a peer connection) that media/ bridges; calls/ never sees how either is done."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

from callbridge.media.whatsapp_leg import WhatsAppLeg

# Events a connector reports about calls. Deliveries may repeat and arrive out of order.


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
    errors: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class PermissionReply:
    phone: str
    response: str  # accept | reject
    expires_at: int | None = None


ConnectorEvent = IncomingCall | CallAnswered | CallProgress | CallTerminated | PermissionReply


class Connector(abc.ABC):
    """One business number's way into WhatsApp."""

    @abc.abstractmethod
    async def place_call(self, phone: str) -> tuple[str, WhatsAppLeg]:
        """Start a call to ``phone``; returns WhatsApp's call id and the leg (answer arrives as CallAnswered)."""

    @abc.abstractmethod
    async def answer_call(self, call_id: str, offer_sdp: str) -> WhatsAppLeg:
        """Accept an incoming call; returns the connected-to-be leg."""

    @abc.abstractmethod
    async def reject_call(self, call_id: str) -> None: ...

    @abc.abstractmethod
    async def terminate_call(self, call_id: str) -> None: ...

    @abc.abstractmethod
    async def request_permission(self, phone: str, body: str) -> str | None:
        """Ask the user for permission to call them; returns the request's message id."""

    @abc.abstractmethod
    async def permission(self, phone: str) -> dict[str, Any]:
        """The permission state as WhatsApp reports it."""
