"""A connector that talks to nobody, for the call state machine's unit tests: it records what the call layer
asks of WhatsApp, hands back legs that never connect, and takes "deliveries" as lists of connector events."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from callbridge.connectors.base import Connector, PlacedCall
from callbridge.connectors.events import ConnectorEvent
from callbridge.errors import UpstreamError
from callbridge.media.ice import IceSettings
from callbridge.media.whatsapp_leg import WhatsAppLeg

LOOPBACK = IceSettings.parse(None, "127.0.0.1")


class FakeLeg(WhatsAppLeg):
    """A real (idle) peer connection whose signalling is pretended: no ICE, no DTLS, no packets."""

    def __init__(self, answer_fails: bool = False) -> None:
        super().__init__(LOOPBACK)
        self.answer_fails = answer_fails
        self.answers: list[str] = []
        self.closed = False

    async def create_offer(self) -> str:
        return "v=0 (fake offer)"

    async def apply_answer(self, sdp: str) -> None:
        if self.answer_fails:
            raise ValueError("not an SDP answer")
        self.answers.append(sdp)

    async def close(self) -> None:
        self.closed = True
        await super().close()


class FakeConnector(Connector):
    def __init__(self) -> None:
        super().__init__()
        self.actions: list[tuple[str, str]] = []  # (action, call id), in order
        self.legs: list[FakeLeg] = []
        self.failing: set[str] = set()  # actions that WhatsApp refuses
        self.next_call_id: str | None = None
        self.answer_fails = False
        self._ids = itertools.count(1)

    def verify(self, body: bytes, headers: Mapping[str, str]) -> bool:
        return True

    def parse(self, payload: Any) -> list[ConnectorEvent]:
        return list(payload)

    def _act(self, action: str, call_id: str) -> None:
        self.actions.append((action, call_id))
        if action in self.failing:
            raise UpstreamError(f"WhatsApp refused to {action}")

    def _leg(self) -> FakeLeg:
        leg = FakeLeg(self.answer_fails)
        self.legs.append(leg)
        return leg

    async def identity(self) -> str:
        return "15550100000@s.whatsapp.net"

    async def place_call(self, phone: str, callback_data: str | None = None) -> PlacedCall:
        call_id = self.next_call_id or f"wacid.fake-{next(self._ids)}"
        self.next_call_id = None
        self._act("connect", call_id)
        return PlacedCall(call_id, self._leg(), self.deliveries.announce(call_id))

    async def answer_call(self, call_id: str, offer_sdp: str, callback_data: str | None = None) -> WhatsAppLeg:
        self._act("accept", call_id)
        return self._leg()

    async def reject_call(self, call_id: str) -> None:
        self._act("reject", call_id)

    async def terminate_call(self, call_id: str) -> None:
        self._act("terminate", call_id)

    async def request_permission(self, phone: str, body: str) -> str | None:
        self._act("request_permission", phone)
        return "wamid.fake"

    async def calling_settings(self) -> dict[str, Any]:
        return {"status": "ENABLED"}

    async def update_calling_settings(self, calling: dict[str, Any]) -> dict[str, Any]:
        return {"status": "ENABLED", **calling}

    async def permission(self, phone: str) -> dict[str, Any]:
        return {"permission": {"status": "granted"}}
