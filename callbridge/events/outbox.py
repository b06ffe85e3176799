"""The outbox: every event is stored, in the same transaction as the change it reports, before it is sent."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from callbridge.events.wago import wants
from callbridge.store.models import OutboxRow, SessionRow
from callbridge.store.types import utcnow

SESSION_ORDER_KEY = ""  # events that belong to no call share one queue per session


class Outbox:
    def __init__(self, notify: Callable[[], None] = lambda: None, *, shared: bool = False) -> None:
        self._notify = notify
        self._shared = shared  # several nodes stage events (PostgreSQL): Seq comes from the table, under a lock
        self._seq: dict[tuple[int, str], int] = {}

    async def stage(
        self,
        db: AsyncSession,
        session: SessionRow,
        event_type: str,
        event: dict[str, Any],
        call_id: str | None = None,
    ) -> OutboxRow | None:
        """Add an event to ``db``'s transaction; the caller commits, then calls :meth:`notify`.

        Returns None when the session would not receive it (no webhook, not connected, not subscribed).
        """
        if not session.webhook_url or not session.connected or not wants(session.subscribe, event_type):
            return None
        key = call_id or SESSION_ORDER_KEY
        seq = await self._next_seq(db, session.id, key)
        event_id = uuid.uuid4().hex
        now = utcnow()
        payload = {**event, "EventID": event_id, "Seq": seq, "Timestamp": now.isoformat()}
        if call_id:
            payload.setdefault("CallID", call_id)
        row = OutboxRow(
            event_id=event_id,
            session_id=session.id,
            order_key=key,
            seq=seq,
            type=event_type,
            payload=payload,
            created_at=now,
            next_attempt_at=now,
            status="pending",
            attempts=0,
        )
        db.add(row)
        return row

    def notify(self) -> None:
        self._notify()

    async def _next_seq(self, db: AsyncSession, session_id: int, key: str) -> int:
        slot = (session_id, key)
        if self._shared:
            # Any node may stage a session's events (and a survivor a lost node's call's): the transaction holds
            # the queue's lock until it commits, so two nodes never take the same number.
            await db.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"outbox/{session_id}/{key}"))))
            last = await db.scalar(
                select(func.max(OutboxRow.seq)).where(OutboxRow.session_id == session_id, OutboxRow.order_key == key)
            )
            return (last or 0) + 1
        # One process owns a call's events, so a counter seeded from the table keeps them increasing.
        if slot not in self._seq:
            last = await db.scalar(
                select(func.max(OutboxRow.seq)).where(OutboxRow.session_id == session_id, OutboxRow.order_key == key)
            )
            self._seq[slot] = last or 0
        self._seq[slot] += 1
        return self._seq[slot]

    def forget(self, session_id: int, call_id: str) -> None:
        """Drop a finished call's counter (its events are in the table if it ever comes back)."""
        self._seq.pop((session_id, call_id), None)
