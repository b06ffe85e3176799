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
        """WhatsApp's answer, with the user's latest reply to our request (Meta's permission state does not say
        whether the user chose it or it came with their own call, nor for which request)."""
        phone = normalize_phone(phone)
        state = await self.connector_for(session).permission(phone)
        row = await self.records.last_permission_reply(session.id, phone)
        state["LastReply"] = (
            None
            if row is None
            else {
                "Response": row.response,
                "IsPermanent": row.is_permanent,
                "ResponseSource": row.source,
                "ExpiresAt": row.expires_at,
                "ContextID": row.context_id,
                "ReceivedAt": row.received_at.isoformat(),
            }
        )
        return state

    async def answered(self, session: SessionRow, reply: PermissionReply) -> None:
        event = PermissionAnswered(reply)
        await self.records.save_permission_reply(session.id, reply)
        await self.records.store_session_event(session.id, event)
        self.feed.publish(session.id, None, [event])
