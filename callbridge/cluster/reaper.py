"""Node loss: when a node stops heartbeating, one survivor (the holder of a PostgreSQL advisory lock) marks it
lost and ends its calls: WhatsApp told to terminate, the end reported, its recordings marked incomplete. The other
nodes' calls never notice."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import func, select, update

from callbridge.calls.records import CallRecords
from callbridge.calls.service import CallService
from callbridge.cluster.registry import NodeRegistry, NodeState
from callbridge.store import Database
from callbridge.store.models import NodeRow
from callbridge.store.types import utcnow

log = logging.getLogger(__name__)

LOST_REASON = "the node carrying the call stopped"
REAPER_LOCK = 0x63616C6C  # one advisory lock id for the cluster's reaper ("call")


class Reaper:
    def __init__(self, db: Database, registry: NodeRegistry, calls: CallService, records: CallRecords) -> None:
        self.db = db
        self.registry = registry
        self.calls = calls
        self.records = records
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="node-reaper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.registry.interval)
            try:
                for node_id in await self.claim_lost():
                    await self.end_calls_of(node_id)
            except Exception:
                log.exception("looking for lost nodes failed")

    async def claim_lost(self) -> list[str]:
        """Mark the nodes whose heartbeat lapsed as lost; only the node holding the lock does, and a node is
        marked once, so its calls are ended by exactly one survivor."""
        since = utcnow() - self.registry.timeout
        async with self.db.session() as s:
            if not await s.scalar(select(func.pg_try_advisory_xact_lock(REAPER_LOCK))):
                return []
            lost = (
                await s.scalars(
                    update(NodeRow)
                    .where(
                        NodeRow.state.in_((NodeState.ACTIVE, NodeState.DRAINING)),
                        NodeRow.heartbeat_at < since,
                        NodeRow.id != self.registry.node_id,
                    )
                    .values(state=NodeState.LOST)
                    .returning(NodeRow.id)
                )
            ).all()
            await s.commit()
        for node_id in lost:
            log.warning("node %s lost (no heartbeat for %s): ending its calls", node_id, self.registry.timeout)
        return list(lost)

    async def end_calls_of(self, node_id: str) -> None:
        for call in await self.records.unfinished_of(node_id):
            await self.records.mark_recordings_incomplete(call.id)
            await self.calls.end_orphan(call, LOST_REASON)
            log.info("call of lost node %s ended", node_id, extra={"call": call.id})
