"""What the call layer needs from a way into WhatsApp. A connector signals calls and hands back the
WhatsApp leg (a peer connection) that media/ bridges; calls/ never sees how either is done.

WhatsApp's deliveries repeat and overtake each other: a connector hands them on once each, in an order that
makes sense (connectors/deliveries.py), so the call layer sees a plausible story.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from callbridge.connectors.deliveries import Deliveries
from callbridge.connectors.events import CallUpdate, ConnectorEvent
from callbridge.media.whatsapp_leg import WhatsAppLeg


@dataclass
class PlacedCall:
    call_id: str
    leg: WhatsAppLeg
    early: list[CallUpdate] = field(default_factory=list)  # news of the call that came before WhatsApp's answer


class Connector(abc.ABC):
    """One business number's way into WhatsApp."""

    def __init__(self) -> None:
        self.deliveries = Deliveries()

    @abc.abstractmethod
    def verify(self, body: bytes, headers: Mapping[str, str]) -> bool:
        """Whether a webhook delivery really comes from WhatsApp for this number."""

    @abc.abstractmethod
    def parse(self, payload: Any) -> list[ConnectorEvent]:
        """This number's events in a delivery, in the order WhatsApp listed them."""

    def receive(self, payload: Any) -> list[ConnectorEvent]:
        """A verified delivery's events, each once, in an order the call layer can follow."""
        return [ready for event in self.parse(payload) for ready in self.deliveries.admit(event)]

    @abc.abstractmethod
    async def identity(self) -> str:
        """The number's WhatsApp id (``digits@s.whatsapp.net``), asked of WhatsApp: it proves the credentials."""

    @abc.abstractmethod
    async def place_call(self, phone: str, callback_data: str | None = None) -> PlacedCall:
        """Start a call to ``phone``; the answer arrives later as CallAnswered."""

    @abc.abstractmethod
    async def answer_call(self, call_id: str, offer_sdp: str, callback_data: str | None = None) -> WhatsAppLeg:
        """Accept an incoming call; returns the connected-to-be leg."""

    @abc.abstractmethod
    async def reject_call(self, call_id: str) -> None: ...

    @abc.abstractmethod
    async def terminate_call(self, call_id: str) -> None: ...

    @abc.abstractmethod
    async def request_permission(self, phone: str, body: str) -> str | None:
        """Ask the user for permission to call them; returns the request's message id."""

    @abc.abstractmethod
    async def calling_settings(self) -> dict[str, Any]:
        """The number's calling settings as WhatsApp reports them."""

    @abc.abstractmethod
    async def update_calling_settings(self, calling: dict[str, Any]) -> dict[str, Any]:
        """Change some of them; returns them all, as they are now."""

    @abc.abstractmethod
    async def permission(self, phone: str) -> dict[str, Any]:
        """The permission state as WhatsApp reports it."""
