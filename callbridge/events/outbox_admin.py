"""The operator's view of the outbox: events by status, and a dead event queued again."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select, update

from callbridge.store import Database
from callbridge.store.models import OutboxRow
from callbridge.store.types import utcnow


class OutboxAdmin:
    def __init__(self, db: Database, notify: Callable[[], None]) -> None:
        self.db = db
        self.notify = notify

    async def events(self, status: str, limit: int) -> list[OutboxRow]:
        query = select(OutboxRow).where(OutboxRow.status == status).order_by(OutboxRow.id.desc()).limit(limit)
        async with self.db.session() as s:
            return list(await s.scalars(query))

    async def retry(self, event_id: str) -> bool:
        """Queue a dead event again, its give-up clock restarted; False when no dead event has that id."""
        now = utcnow()
        async with self.db.session() as s:
            result = await s.execute(
                update(OutboxRow)
                .where(OutboxRow.event_id == event_id, OutboxRow.status == "dead")
                .values(status="pending", attempts=0, created_at=now, next_attempt_at=now, last_error=None)
            )
            await s.commit()
        if not getattr(result, "rowcount", 0):
            return False
        self.notify()
        return True
