"""One webhook destination's deliveries: a few events in flight at once, never two of one call, and a call's next
event as soon as the one before it is delivered or dead. A slow or dead app holds up only its own destination."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, Subquery, func, or_, select, update

from callbridge.events.sender import Sender
from callbridge.store import Database
from callbridge.store.models import OutboxRow, SessionRow
from callbridge.store.types import utcnow

log = logging.getLogger(__name__)

CallKey = tuple[int, str]  # (session id, order key): the queue whose events go one at a time, in Seq order


def destination_of() -> ColumnElement[str]:
    """Deliveries are grouped by the URL they go to ('' for a session whose webhook was removed)."""
    return func.coalesce(SessionRow.webhook_url, "")


def heads(*where: ColumnElement[bool]) -> Subquery:
    """The first pending event of each call: the only one of the call that may be sent."""
    query = select(func.min(OutboxRow.id).label("id")).where(OutboxRow.status == "pending", *where)
    return query.group_by(OutboxRow.session_id, OutboxRow.order_key).subquery()


def unclaimed(node_id: str, now: datetime) -> ColumnElement[bool]:
    """Events no other node is delivering: never claimed, claimed by this node, or their lease has run out (the
    node that claimed them died)."""
    return or_(OutboxRow.claimed_until.is_(None), OutboxRow.claimed_until < now, OutboxRow.claimed_by == node_id)


def heads_of(key: str, columns: tuple[Any, ...], exclude: list[int], node_id: str) -> Select[Any]:
    in_destination = OutboxRow.session_id.in_(select(SessionRow.id).where(destination_of() == key))
    first = heads(in_destination)  # a call's first pending event, claimed or not: the next one waits for it
    return (
        select(*columns)
        .select_from(OutboxRow)
        .join(first, first.c.id == OutboxRow.id)
        .join(SessionRow, SessionRow.id == OutboxRow.session_id)
        .where(OutboxRow.id.not_in(exclude), unclaimed(node_id, utcnow()))
    )


class Destination:
    """Started by the dispatcher when the destination has events due; ends when it has none pending."""

    def __init__(
        self,
        key: str,
        db: Database,
        sender: Sender,
        *,
        limit: int,
        in_flight: dict[int, CallKey],
        poll_interval: float,
        on_exit: Callable[[Destination], None],
        node_id: str = "local",
        lease: float = 60.0,
    ) -> None:
        self.key = key
        self.db = db
        self.sender = sender
        self.limit = limit
        self.in_flight = in_flight  # every destination's, by outbox row id: a call never goes out twice at once
        self.poll_interval = poll_interval
        self.on_exit = on_exit
        self.node_id = node_id
        self.lease = timedelta(seconds=lease)
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.poked = asyncio.Event()
        self._loop = asyncio.create_task(self._run(), name="webhook-destination")

    def poke(self) -> None:
        """Look for due events now (a new event, or one finished)."""
        self.poked.set()

    def stop(self) -> None:
        """Start nothing more; what is in flight goes on (see Dispatcher.stop)."""
        self._loop.cancel()

    async def _run(self) -> None:
        while True:
            self.poked.clear()  # a poke from here on, even mid-query, makes the wait below return at once
            try:
                skipped = await self._start_due()
                wait = await self._until_next_due(skipped)
            except Exception:
                log.exception("webhook delivery pass failed")
                wait = self.poll_interval
            if wait is None:
                self.on_exit(self)
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.poked.wait(), timeout=wait)

    async def _start_due(self) -> bool:
        """Start the due heads, oldest first, up to the free slots; whether one was skipped (its call is in
        flight at another destination, after a URL change, or behind an operator's retry)."""
        free = self.limit - len(self.tasks)
        if free <= 0:
            return False
        query = heads_of(self.key, (OutboxRow, SessionRow), list(self.in_flight), self.node_id)
        query = query.where(OutboxRow.next_attempt_at <= utcnow()).order_by(OutboxRow.id).limit(free)
        async with self.db.session() as s:
            due = (await s.execute(query)).tuples().all()
        busy = set(self.in_flight.values())
        skipped = False
        wanted: list[tuple[OutboxRow, SessionRow]] = []
        for row, session in due:
            call: CallKey = (row.session_id, row.order_key)
            if call in busy:
                skipped = True
                continue
            busy.add(call)
            wanted.append((row, session))
        claimed = await self._claim([row.id for row, _ in wanted])
        for row, session in wanted:
            if row.id not in claimed:
                continue  # another node took it in the meantime
            self.in_flight[row.id] = (row.session_id, row.order_key)
            self.tasks[row.id] = asyncio.create_task(self._deliver(row, session), name="webhook-delivery")
        return skipped

    async def _claim(self, ids: list[int]) -> set[int]:
        """Take the events for this node until the lease ends, skipping any another node holds (FOR UPDATE SKIP
        LOCKED on PostgreSQL; SQLite has one writer at a time anyway)."""
        if not ids:
            return set()
        now = utcnow()
        async with self.db.session() as s:
            free = await s.scalars(
                select(OutboxRow.id)
                .where(OutboxRow.id.in_(ids), OutboxRow.status == "pending", unclaimed(self.node_id, now))
                .with_for_update(skip_locked=True)
            )
            taken = set(free.all())
            if taken:
                await s.execute(
                    update(OutboxRow)
                    .where(OutboxRow.id.in_(taken))
                    .values(claimed_by=self.node_id, claimed_until=now + self.lease)
                )
            await s.commit()
        return taken

    async def _deliver(self, row: OutboxRow, session: SessionRow) -> None:
        try:
            await self.sender.attempt(row, session)
        except Exception:  # the table is unchanged, so the event is simply due again
            log.exception("webhook delivery failed", extra={"event": row.event_id})
        finally:
            self.in_flight.pop(row.id, None)
            self.tasks.pop(row.id, None)
            self.poke()  # the call's next event may go now

    async def _until_next_due(self, skipped: bool) -> float | None:
        """Seconds to sleep before looking again (a poke ends it sooner), or None when there is nothing left."""
        if len(self.tasks) >= self.limit or skipped:
            return self.poll_interval  # a delivery that finishes pokes
        query = heads_of(self.key, (func.min(OutboxRow.next_attempt_at),), list(self.in_flight), self.node_id)
        async with self.db.session() as s:
            due = await s.scalar(query)
        if due is None:
            return self.poll_interval if self.tasks else None
        # Other processes may store events too: look again every poll interval whatever the next retry.
        return min(self.poll_interval, max(0.02, (due - utcnow()).total_seconds()))
