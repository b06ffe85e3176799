"""Putting events into a gateway's outbox from the test process, through the same database."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from callbridge.events.outbox import Outbox
from callbridge.sessions import token_digest
from callbridge.store import Database, SecretBox
from callbridge.store.models import SessionRow
from tests.support.database import secret_box

Event = tuple[str, dict[str, Any], str | None]  # (type, event, call id)


async def _enqueue(database_url: str, token: str, events: list[Event], box: SecretBox | None) -> list[str]:
    db = Database(database_url, box or secret_box())
    try:
        async with db.session() as s:
            session = await s.scalar(select(SessionRow).where(SessionRow.token_digest == token_digest(token)))
            assert session is not None
            outbox = Outbox()
            rows = [await outbox.stage(s, session, kind, event, call_id) for kind, event, call_id in events]
            await s.commit()
        return [row.event_id if row else "" for row in rows]
    finally:
        await db.close()


def enqueue(database_url: str, token: str, events: list[Event], box: SecretBox | None = None) -> list[str]:
    """Stage events in one transaction, as the gateway does; returns their EventIDs ('' if not queued).
    ``box`` holds the gateway's secret key (the tests' shared one by default)."""
    return asyncio.run(_enqueue(database_url, token, events, box))


def call_events(call_id: str, count: int) -> list[Event]:
    return [("CallState", {"State": f"step-{n}"}, call_id) for n in range(1, count + 1)]
