"""Delivers the outbox to each session's webhook: in order per call, at least once, with backoff."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from datetime import timedelta

import httpx
from sqlalchemy import func, select, update

from callbridge.events.wago import SIGNATURE_HEADER, form_body, sign
from callbridge.store import Database
from callbridge.store.models import OutboxRow, SessionRow
from callbridge.store.types import utcnow

log = logging.getLogger(__name__)


def retry_delay(attempts: int, base: float, cap: float) -> float:
    """Exponential backoff with "equal jitter": between half and all of min(cap, base·2^(n-1))."""
    ceiling = min(cap, base * 2 ** max(0, attempts - 1))
    return ceiling / 2 + random.random() * ceiling / 2


class Dispatcher:
    def __init__(
        self,
        db: Database,
        http: httpx.AsyncClient,
        *,
        timeout: float,
        retry_base: float,
        retry_cap: float,
        give_up_after: float,
        poll_interval: float = 2.0,
        concurrency: int = 16,
    ) -> None:
        self.db = db
        self.http = http
        self.timeout = timeout
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.give_up_after = timedelta(seconds=give_up_after)
        self.poll_interval = poll_interval
        self._limit = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def notify(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webhook-dispatcher")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, timeout=self.timeout + 1)

    async def _run(self) -> None:
        while not self._stopping:
            try:
                delivered = await self.deliver_due()
            except Exception:
                log.exception("webhook dispatcher pass failed")
                delivered = 0
            if delivered:
                continue  # the next event of each call may be due right away
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=await self._until_next_due())

    async def _until_next_due(self) -> float:
        """Sleep until the earliest retry is due; look again every ``poll_interval`` for events that another
        process stored (a local event wakes the dispatcher at once)."""
        async with self.db.session() as s:
            due = await s.scalar(select(func.min(OutboxRow.next_attempt_at)).where(OutboxRow.status == "pending"))
        if due is None:
            return self.poll_interval
        return min(self.poll_interval, max(0.02, (due - utcnow()).total_seconds()))

    async def deliver_due(self, batch: int = 100) -> int:
        """Try the head event of every (session, call) queue that is due; returns how many were delivered."""
        heads = (
            select(func.min(OutboxRow.id).label("id"))
            .where(OutboxRow.status == "pending")
            .group_by(OutboxRow.session_id, OutboxRow.order_key)
            .subquery()
        )
        query = (
            select(OutboxRow, SessionRow)
            .join(heads, heads.c.id == OutboxRow.id)
            .join(SessionRow, SessionRow.id == OutboxRow.session_id)
            .where(OutboxRow.next_attempt_at <= utcnow())
            .order_by(OutboxRow.id)
            .limit(batch)
        )
        async with self.db.session() as s:
            due = (await s.execute(query)).all()
        results = await asyncio.gather(*(self._attempt(row, session) for row, session in due))
        return sum(results)

    async def _attempt(self, row: OutboxRow, session: SessionRow) -> bool:
        async with self._limit:
            if not session.webhook_url:
                await self._finish(row, "dead", error="the session has no webhook URL any more")
                return False
            body = form_body(session.token, row.type, row.payload)
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Callbridge-Event-Id": row.event_id,
                "X-Callbridge-Event-Type": row.type,
                "X-Callbridge-Attempt": str(row.attempts + 1),
            }
            if session.webhook_secret:
                headers[SIGNATURE_HEADER] = sign(session.webhook_secret, body)
            try:
                response = await self.http.post(
                    session.webhook_url, content=body, headers=headers, timeout=self.timeout
                )
                error = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if error is None:
                await self._finish(row, "delivered")
                return True
            await self._failed(row, error)
            return False

    async def _failed(self, row: OutboxRow, error: str) -> None:
        attempts = row.attempts + 1
        now = utcnow()
        if now - row.created_at >= self.give_up_after:
            log.warning("webhook event dead after %d attempts: %s", attempts, error, extra={"event": row.event_id})
            await self._finish(row, "dead", error=error, attempts=attempts)
            return
        delay = retry_delay(attempts, self.retry_base, self.retry_cap)
        log.info("webhook delivery failed (%s); retry in %.1fs", error, delay, extra={"event": row.event_id})
        async with self.db.session() as s:
            await s.execute(
                update(OutboxRow)
                .where(OutboxRow.id == row.id, OutboxRow.status == "pending")
                .values(attempts=attempts, last_error=error, next_attempt_at=now + timedelta(seconds=delay))
            )
            await s.commit()

    async def _finish(self, row: OutboxRow, status: str, error: str | None = None, attempts: int | None = None) -> None:
        values: dict[str, object] = {"status": status, "attempts": attempts or row.attempts + 1}
        if status == "delivered":
            values["delivered_at"] = utcnow()
        if error is not None:
            values["last_error"] = error
        async with self.db.session() as s:
            await s.execute(update(OutboxRow).where(OutboxRow.id == row.id).values(**values))
            await s.commit()
