"""Call permissions: a business may call a user only once the user has granted it (Meta's user call
permission request), so the app asks, and hears the answer as a ``CallPermission`` event."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from callbridge.calls.events import PermissionAnswered
from callbridge.calls.feed import CallFeed
from callbridge.calls.phone import normalize_phone
from callbridge.calls.records import CallRecords
from callbridge.connectors.base import Connector
from callbridge.connectors.events import PermissionReply
from callbridge.store.models import SessionRow


class Permissions:
    def __init__(self, connector_for: Callable[[SessionRow], Connector], records: CallRecords, feed: CallFeed) -> None:
        self.connector_for = connector_for
        self.records = records
        self.feed = feed

    async def request(self, session: SessionRow, phone: str, body: str) -> tuple[str, str | None]:
        """Send the request message; returns the normalised number and the message's id."""
        phone = normalize_phone(phone)
        return phone, await self.connector_for(session).request_permission(phone, body)

    async def status(self, session: SessionRow, phone: str) -> dict[str, Any]:
        return await self.connector_for(session).permission(normalize_phone(phone))

    async def answered(self, session: SessionRow, reply: PermissionReply) -> None:
        event = PermissionAnswered(reply)
        await self.records.store_session_event(session.id, event)
        self.feed.publish(session.id, None, [event])
