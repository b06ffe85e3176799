"""Delivers the outbox to each session's webhook: in order per call, at least once, with backoff, and each
destination (webhook URL) on its own, so that one slow or dead app delays nobody else."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import httpx
from sqlalchemy import select

from callbridge.events.destination import CallKey, Destination, destination_of, heads, unclaimed
from callbridge.events.sender import Sender
from callbridge.store import Database
from callbridge.store.models import OutboxRow, SessionRow
from callbridge.store.types import utcnow

log = logging.getLogger(__name__)

STOP_GRACE = 3.0  # seconds in-flight deliveries get at shutdown; one cut short stays pending and goes again


class Dispatcher:
    def __init__(
        self,
        db: Database,
        *,
        timeout: float,
        retry_base: float,
        retry_cap: float,
        give_up_after: float,
        allow_private: bool = False,
        per_destination: int = 4,
        poll_interval: float = 2.0,
        node_id: str = "local",
    ) -> None:
        self.db = db
        self.node_id = node_id
        # A claim outlives any one attempt (the app's timeout), so only a dead node's claims ever lapse.
        self.lease = timeout + 30.0
        # Its own client: slow apps holding connections must not starve the Graph API calls of a shared pool.
        # No redirects: a 3xx must not lead a delivery to an address the checks refuse.
        self.http = httpx.AsyncClient(
            timeout=timeout, trust_env=False, follow_redirects=False, limits=httpx.Limits(max_connections=None)
        )
        self.sender = Sender(
            db,
            self.http,
            retry_base=retry_base,
            retry_cap=retry_cap,
            give_up_after=give_up_after,
            allow_private=allow_private,
        )
        self.per_destination = per_destination
        self.poll_interval = poll_interval
        self._destinations: dict[str, Destination] = {}
        self._in_flight: dict[int, CallKey] = {}
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
                await self._task
        for destination in self._destinations.values():
            destination.stop()
        deliveries = [t for d in self._destinations.values() for t in d.tasks.values()]
        if deliveries:
            _, unfinished = await asyncio.wait(deliveries, timeout=STOP_GRACE)
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
        await self.http.aclose()

    async def _run(self) -> None:
        """Find the destinations with events due and make sure each has its worker looking; then sleep until a
        local event (notify) or the poll interval, for events that another process stored."""
        while not self._stopping:
            self._wake.clear()
            try:
                for key in await self._due_destinations():
                    self._destination(key).poke()
            except Exception:
                log.exception("webhook dispatcher pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval)

    async def _due_destinations(self) -> list[str]:
        first = heads()
        query = (
            select(destination_of())
            .distinct()
            .select_from(OutboxRow)
            .join(first, first.c.id == OutboxRow.id)
            .join(SessionRow, SessionRow.id == OutboxRow.session_id)
            .where(
                OutboxRow.next_attempt_at <= utcnow(),
                OutboxRow.id.not_in(list(self._in_flight)),
                unclaimed(self.node_id, utcnow()),
            )
        )
        async with self.db.session() as s:
            return list((await s.scalars(query)).all())

    def _destination(self, key: str) -> Destination:
        destination = self._destinations.get(key)
        if destination is None:
            destination = Destination(
                key,
                self.db,
                self.sender,
                limit=self.per_destination,
                in_flight=self._in_flight,
                poll_interval=self.poll_interval,
                on_exit=self._exited,
                node_id=self.node_id,
                lease=self.lease,
            )
            self._destinations[key] = destination
        return destination

    def _exited(self, destination: Destination) -> None:
        if self._destinations.get(destination.key) is destination:
            del self._destinations[destination.key]
        if destination.poked.is_set():  # poked while deciding it was idle: look again, with a fresh worker
            self.notify()
